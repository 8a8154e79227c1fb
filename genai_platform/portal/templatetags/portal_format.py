"""`{% load portal_format %}`: `money`, `when`, `listing` and `human` (see `genai_platform.formatting`)."""

from django import template

from genai_platform import formatting

register = template.Library()
register.filter("money", formatting.money)
register.filter("when", formatting.when)
register.filter("listing", formatting.listing)
register.filter("human", formatting.human)
