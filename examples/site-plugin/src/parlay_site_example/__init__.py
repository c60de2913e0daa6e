"""Example Site's parlay plugin: installing this distribution applies the site's rules (see `hooks`) to
every parlay run on the site's machines."""
