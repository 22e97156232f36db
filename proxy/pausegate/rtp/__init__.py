"""pausegate.rtp"""
