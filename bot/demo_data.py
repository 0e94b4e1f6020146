"""The demo company: credentials of the emulators and the fieldworkers it employs."""

TOKEN = "100000:DEMO"  # noqa: S105 - the demo bot token of the emulator
API = "demo-token"
SID = "AC" + "d" * 32
AUTH = "demo-auth"
FROM = "+15550001111"
OWNER = 6999  # Telegram user id of the demo company's owner

WORKERS = [  # name, lat, lon, services, skills, status
    ("Alice Novak", 52.520, 13.405, ["plumb"], ["gas-cert"], "active"),
    ("Bruno Meyer", 52.530, 13.380, ["plumb"], [], "active"),
    ("Chiara Rossi", 52.500, 13.420, ["plumb", "clean"], [], "active"),
    ("Dmitri Ivanov", 52.480, 13.350, ["clean"], [], "active"),
    ("Emma Schulz", 52.540, 13.450, ["clean"], [], "active"),
    ("Farid Haddad", 52.510, 13.300, ["plumb", "clean"], [], "inactive"),
    ("Greta Lind", 53.550, 9.990, ["plumb"], ["gas-cert"], "active"),  # Hamburg: too far
    ("Hugo Petit", 52.525, 13.390, ["elec"], [], "active"),
    ("Ines Costa", 52.505, 13.395, ["clean"], [], "active"),
    ("Jonas Berg", 52.515, 13.410, ["plumb"], ["gas-cert"], "restricted"),
]
