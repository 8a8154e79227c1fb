"""The demo world (`manage.py seed_demo`): it seeds every app (catalog, LOBs, governance, access,
vector stores), so it sits above all of them rather than inside one."""
