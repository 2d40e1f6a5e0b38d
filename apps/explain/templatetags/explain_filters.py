from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ mapping|get_item:key }}``: a dict's value for a key a template holds in a variable."""
    return (mapping or {}).get(key) if hasattr(mapping, "get") else None
