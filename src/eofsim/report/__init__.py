"""eofsim.report"""
