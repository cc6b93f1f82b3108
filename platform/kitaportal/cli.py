"""`kitaportal` console command: wraps Django's management commands.

kitaportal tenants create --type municipality --slug bochum --name "Stadt Bochum"
kitaportal migrate            # shared schema, templates, then the fast tenant rollout
kitaportal <any manage.py command>
"""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kitaportal.settings.dev")
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    if len(argv) > 1 and argv[1] == "migrate":
        argv[1] = "migrate_all"
    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
