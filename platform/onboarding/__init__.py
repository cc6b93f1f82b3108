"""Onboarding checklists for new tenants (municipality: portal setup; employer: first steps)."""
