"""Deterministic discrete-event engine in virtual nanoseconds.

Tasks are generators. A task yields an int (sleep that many ns) or a WaitQueue (block until
woken; the caller re-checks its condition in a loop, as kernel wait_event() does). Every
block records what the task waits on and who can end the wait, so deadlocks are found as
cycles in the wait-for graph the moment they form, and stalls (blocked with nothing left
to wake them) at the end of a run.

Happens-before: each task carries `hb`, a bitmask of device writes whose completion it
knows of. Waking a task hands it the waker's knowledge; handles hand it to a transaction.
The crash explorer uses this to decide which writes a flush guarantees (issue 3).
"""

import heapq
import random
from collections import deque
from dataclasses import dataclass

from .hb import join


class Task:
    __slots__ = ("name", "gen", "kind", "tid", "blocked_on", "blocked_since", "blocked_ns",
                 "hb", "done", "result", "waits", "holds")

    def __init__(self, name, gen, kind, tid):
        self.name = name
        self.gen = gen
        self.kind = kind
        self.tid = tid
        self.blocked_on = None
        self.blocked_since = 0
        self.blocked_ns = 0
        self.hb = 0
        self.done = False
        self.result = None
        self.waits = 0
        self.holds = []

    def __repr__(self):
        return f"<task {self.name}>"


class WaitQueue:
    """A kernel wait queue head. `owner` names who can end the wait: a Task, a callable
    returning tasks, or None (an external agent that always makes progress: device, timer)."""

    __slots__ = ("engine", "name", "kind", "waiters", "owner", "idle")

    def __init__(self, engine, name, kind, owner=None, idle=False):
        self.engine = engine
        self.name = name
        self.kind = kind
        self.waiters = []
        self.owner = owner
        self.idle = idle

    def owners(self):
        o = self.owner
        if o is None:
            return ()
        if isinstance(o, Task):
            return (o,)
        return tuple([t for t in o() if t is not None])

    def wake_all(self):
        if self.waiters:
            w, self.waiters = self.waiters, []
            eng = self.engine
            for t in w:
                eng._wake(t)

    def wake_one(self):
        if self.waiters:
            self.engine._wake(self.waiters.pop(0))


class Mutex:
    """A sleeping lock (i_rwsem, folio lock, ...) with its holder known for the wait-for graph."""

    __slots__ = ("holder", "wq")

    def __init__(self, engine, name, kind):
        self.holder = None
        self.wq = WaitQueue(engine, name, kind, owner=lambda: (self.holder,))

    def lock(self):
        eng = self.wq.engine
        while self.holder is not None:
            yield self.wq
        self.holder = eng.current

    def trylock(self) -> bool:
        if self.holder is None:
            self.holder = self.wq.engine.current
            return True
        return False

    def unlock(self):
        self.holder = None
        self.wq.wake_one()


class Completion:
    """A one-shot event (struct completion). A task that finds it already done learns what
    the completer knew, as one woken by it does."""

    __slots__ = ("done", "wq", "hb")

    def __init__(self, engine, name, kind, owner=None):
        self.done = False
        self.wq = WaitQueue(engine, name, kind, owner)
        self.hb = 0

    def wait(self):
        while not self.done:
            yield self.wq
        cur = self.wq.engine.current
        if cur is not None:
            cur.hb = join(cur.hb, self.hb)

    def complete(self):
        self.done = True
        cur = self.wq.engine.current
        if cur is not None:
            self.hb = join(self.hb, cur.hb)
        self.wq.wake_all()


@dataclass
class Deadlock:
    time_ns: int
    cycle: list  # [(task name, wait queue name, kind)], each waits on the next one's task
    def text(self) -> str:
        parts = [f"{t} waits on {w} ({k})" for t, w, k in self.cycle]
        return "; ".join(parts) + " -> cycle"


@dataclass
class Stall:
    time_ns: int
    blocked: list  # [(task name, wait queue name, kind, holders)]
    def text(self) -> str:
        return "; ".join(f"{t} blocked on {w} ({k}) held by {h or 'nobody'}" for t, w, k, h in self.blocked)


class Engine:
    def __init__(self, seed: int = 0, perturb: bool = False):
        self.now = 0
        self._q = []
        self._seq = 0
        self.tasks = []
        self.current = None
        self._irq = Task("irq", None, "irq", -1)
        self.rng = random.Random(seed)
        self.perturb = perturb
        self._until = None
        self.deadlocks = []
        self.wait_counts = {}
        self.wait_ns = {}
        self.after_event = None
        """Optional callable run after every event (selfcheck.py's invariants)."""
        self.now_fifo = True
        """False: every event goes through the heap (tests compare the two orders)."""
        self._now_q = None
        """While run() runs unperturbed: the events due at the current instant pushed during
        it, in push order, which is the heap's order for them (they tie on time and
        priority, and their sequence numbers are higher than those of the events already
        due then), kept out of the heap. run() hands any left back to the heap."""

    # --- scheduling -------------------------------------------------------------------
    def _push(self, t, kind, obj, arg=None):
        self._seq += 1
        prio = self.rng.random() if self.perturb else 0.0
        e = (t, prio, self._seq, kind, obj, arg)
        if t == self.now and self._now_q is not None:
            self._now_q.append(e)
        else:
            heapq.heappush(self._q, e)

    def spawn(self, name, gen, kind="app", at=None):
        task = Task(name, gen, kind, len(self.tasks))
        if self.current is not None:
            task.hb = self.current.hb
        self.tasks.append(task)
        self._push(self.now if at is None else at, 0, task)
        return task

    def call_at(self, t, fn, arg=None):
        """Run fn(arg) at virtual time t in interrupt context (timers, device completions).
        (_push inlined: one call fewer per event.)"""
        now = self.now
        self._seq += 1
        if t <= now and self._now_q is not None:
            self._now_q.append((now, 0.0, self._seq, 1, fn, arg))
            return
        heapq.heappush(self._q, (now if now > t else t, self.rng.random() if self.perturb else 0.0,
                                 self._seq, 1, fn, arg))

    def _wake(self, task):
        cur = self.current
        if cur is not None:
            task.hb |= cur.hb
        bo = task.blocked_on
        now = self.now
        if bo is not None:
            dt = now - task.blocked_since
            task.blocked_ns += dt
            self.wait_ns[bo.kind] = self.wait_ns.get(bo.kind, 0) + dt
            task.blocked_on = None
        self._seq += 1
        if self._now_q is not None:
            self._now_q.append((now, 0.0, self._seq, 0, task, None))
            return
        heapq.heappush(self._q, (now, self.rng.random() if self.perturb else 0.0, self._seq, 0,
                                 task, None))

    def irq(self, hb: int = 0):
        """Enter interrupt context carrying knowledge `hb` (a device completion)."""
        self._irq.hb = hb
        self.current = self._irq

    # --- running ----------------------------------------------------------------------
    def run(self, until=None, stop=None):
        """Run events until the queue empties, virtual time passes `until`, or stop() is true."""
        q = self._q
        pop = heapq.heappop
        self._until = until
        outer = self._now_q
        if outer:                   # run() within run(): the outer one's instant goes first
            for e in outer:
                heapq.heappush(q, e)
            outer.clear()
        now_q = self._now_q = None if self.perturb or not self.now_fifo else deque()
        try:
            while True:
                if now_q and (not q or q[0][0] > self.now):
                    _, _, _, kind, obj, arg = now_q.popleft()
                elif q:
                    if until is not None and q[0][0] > until:
                        self.now = until
                        return
                    t, _, _, kind, obj, arg = pop(q)
                    if now_q and t < self.now:
                        # an event pushed into the past: time goes back, this instant's
                        # events go back to the heap (they follow it there)
                        for e in now_q:
                            heapq.heappush(q, e)
                        now_q.clear()
                    self.now = t
                else:
                    return
                if kind == 0:
                    self._step(obj)
                else:
                    self.current = None
                    obj(arg)
                    self.current = None
                if self.after_event is not None:
                    self.after_event()
                if stop is not None and stop():
                    return
        finally:
            self._now_q = outer
            if now_q:
                for e in now_q:
                    heapq.heappush(q, e)

    def _step(self, task):
        if task.done or task.blocked_on is not None:
            return
        q = self._q
        now_q = self._now_q
        until = self._until
        while True:
            self.current = task
            try:
                req = task.gen.send(None)
            except StopIteration as e:
                task.done = True
                task.result = e.value
                self.current = None
                return
            self.current = None
            if req.__class__ is not int:
                break
            t = self.now + req
            # Nothing else can happen before t: advance the clock and go on with this task
            # (what the queue would do next anyway, without the round trip through it).
            if not now_q and (not q or q[0][0] > t) and (until is None or t <= until):
                self.now = t
                continue
            self._push(t, 0, task)
            return
        task.blocked_on = req
        task.blocked_since = self.now
        task.waits += 1
        req.waiters.append(task)
        self.wait_counts[req.kind] = self.wait_counts.get(req.kind, 0) + 1
        if req.owner is not None:
            self._check_cycle(task)

    def _check_cycle(self, start):
        """Depth-first walk of the wait-for graph from `start`; record a cycle back to it."""
        path = []
        if self._cycle_from(start, start, path, set()):
            names = [c[0] for c in path]
            if not any(set(names) == {c[0] for c in d.cycle} for d in self.deadlocks):
                self.deadlocks.append(Deadlock(self.now, list(path)))

    def _cycle_from(self, task, start, path, seen):
        """_check_cycle's walk from `task`: True when it leads back to `start`, with `path`
        the waits on the way."""
        wq = task.blocked_on
        if wq is None:
            return False
        for o in wq.owners():
            path.append((task.name, wq.name, wq.kind))
            if o is start:
                return True
            if o.tid not in seen:
                seen.add(o.tid)
                if self._cycle_from(o, start, path, seen):
                    return True
            path.pop()
        return False

    def owner_changed(self, wq):
        """Who can end `wq` changed (e.g. a folio's writeback passed to the end-I/O worker):
        look for cycles through its waiters again."""
        for t in list(wq.waiters):
            self._check_cycle(t)

    def stalls(self) -> Stall | None:
        """Tasks still blocked when the run ends: application threads, and daemons blocked
        on anything but their idle queue. Nothing is left that would wake them."""
        blocked = []
        for t in self.tasks:
            if t.done or t.blocked_on is None:
                continue
            if t.kind == "app" or (t.kind == "daemon" and not t.blocked_on.idle):
                wq = t.blocked_on
                blocked.append((t.name, wq.name, wq.kind, ",".join(o.name for o in wq.owners())))
        return Stall(self.now, blocked) if blocked else None
