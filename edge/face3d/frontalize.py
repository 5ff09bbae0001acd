"""placeholder"""
class Frontalized: pass
class FrontalRenderer: pass
