"""A template filter for the page tests: a context value as JSON text."""

import json

from django import template
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def json_script_safe(value):
    return mark_safe(json.dumps(value))
