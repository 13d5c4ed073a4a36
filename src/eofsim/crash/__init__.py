"""eofsim.crash"""
