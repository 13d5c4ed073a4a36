"""Hand-built device logs and run results, for tests and benchmarks of crash exploration
without running the simulator."""

from types import SimpleNamespace

from ..block import Bio
from ..content import fill, garbage
from ..jbd2 import LogRecord, RawInode
from ..sim import OpRecord, RunResult


class LogBuilder:
    def __init__(self, bs=4096, fill_byte=0xE5):
        self.bs = bs
        self.dev = SimpleNamespace(bs=bs, bios=[], log=[], initial={},
                                   fill=fill(bs, garbage(fill_byte)))
        self._ev = []

    def _add(self, bio, submit, complete):
        bio.id = len(self.dev.bios)
        bio.submit_ns = submit
        bio.complete_ns = complete
        self.dev.bios.append(bio)
        self._ev.append((submit, 0, bio.id, "submit"))
        if complete is not None:
            self._ev.append((complete, 1, bio.id, "complete"))
        self._finish()
        return bio

    def _finish(self):
        self.dev.log = [(t, w, i) for t, _, i, w in sorted(self._ev)]

    @staticmethod
    def _hb(hb):
        m = 0
        for b in hb:
            m |= 1 << (b if isinstance(b, int) else b.id)
        return m

    def write(self, blocks, submit, complete=None, kind="data", fua=False, preflush=False, hb=(),
              payload=None, why="", ino=None, lblk=None, src=None):
        """blocks: [(pblk, runs)] or [pblk] with src (a whole block of provenance src)."""
        bl = tuple((b, fill(self.bs, src)) if isinstance(b, int) else b for b in blocks)
        bio = Bio(0, "write", bl, kind=kind, why=why, ino=ino, lblk=lblk, preflush=preflush,
                  fua=fua, payload=payload, hb=self._hb(hb))
        return self._add(bio, submit, complete)

    def flush(self, submit, complete, hb=()):
        return self._add(Bio(0, "flush", (), kind="flush", hb=self._hb(hb)), submit, complete)

    def journal(self, pblk, tid, inodes, submit, complete, hb=()):
        return self.write([(pblk, fill(self.bs, 0))], submit, complete, kind="journal",
                          payload=LogRecord(tid, tuple(inodes)), why="jbd2 log", hb=hb)

    def commit(self, pblk, tid, submit, complete, hb=(), preflush=True, fua=True):
        return self.write([(pblk, fill(self.bs, 0))], submit, complete, kind="commit",
                          payload=tid, why="jbd2 commit", hb=hb, preflush=preflush, fua=fua)


def op(index, text, start, end, thread="t0", i_size_after=None, error=None):
    from ..ops import parse_op
    return OpRecord(index, thread, parse_op(text), start_ns=start, end_ns=end,
                    i_size_after=i_size_after, error=error)


def result(dev, ops=(), size_history=None, inos=None, initial_inodes=None, end_ns=None,
           name="hand-built"):
    if end_ns is None:
        ts = [t for t, _, _ in dev.log] + [o.end_ns or 0 for o in ops] + [0]
        end_ns = max(ts)
    return RunResult(scenario=SimpleNamespace(name=name), policy="none", tun=None, dev=dev,
                     ops=list(ops), inos=dict(inos or {}), initial_inodes=dict(initial_inodes or {}),
                     size_history=dict(size_history or {}), end_ns=end_ns)


__all__ = ["LogBuilder", "op", "result", "RawInode", "LogRecord"]
