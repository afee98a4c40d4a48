"""Open311 GeoReport v2: the public router (``/open311/v2``) and its administration
(``/api/v1/open311``: API keys and held reports)."""
