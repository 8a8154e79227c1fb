"""The portal's own pages beside the admin: the home page, the LOB dashboard, evidence downloads,
and what every portal page shares (human formatting filters, the viewer's time zone)."""
