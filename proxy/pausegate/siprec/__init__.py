"""pausegate.siprec"""
