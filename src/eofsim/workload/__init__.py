"""eofsim.workload"""
