"""The Yudao-compatible API under /admin-api/: the same data as the native API in Yudao's envelope.

What Yudao's Vue 3 admin frontend expects is written down in ../shared/docs/YUDAO.md; this package is
the one place that knows it: the envelope and codes (``envelope``), tokens and auth modes (``tokens``,
``authentication``), permissions and menus (``permissions``, ``menus``), query encoding (``params``),
the camelCase representation (``representation``) and the views.
"""
