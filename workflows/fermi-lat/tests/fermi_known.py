"""4FGL-DR4 names of well-known sources, and a name each is known by (ASSOC1)."""

KNOWN = {
    "4FGL J0534.5+2200": "PSR J0534+2200",    # the Crab pulsar
    "4FGL J0534.5+2201i": "Crab Nebula",      # the nebula's inverse-Compton component
    "4FGL J0835.3-4510": "PSR J0835-4510",    # Vela
    "4FGL J1104.4+3812": "Mkn 421",
    "4FGL J0509.4+0542": "TXS 0506+056",
}
