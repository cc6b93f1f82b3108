"""Fast migration rollout across many tenant schemas.

django-tenants' stock `migrate_schemas` runs Django's whole migrate command per schema:
system checks, a fresh migration loader and a rendered project state each time (about
0.08 s per schema even with nothing to do). This rollout instead

1. loads the migration graph once (from disk; no query),
2. finds the schemas that are behind with ONE query over every schema's django_migrations,
3. groups them by what they miss, and for each group compiles the plan to SQL once
   (when every operation reduces to SQL, as with schema changes) and replays it per schema
   under its search_path, recording the migrations in the same transaction. Several schemas
   share one round trip and one transaction; if a batch fails it is rolled back and its
   schemas are replayed one at a time, each in a transaction of its own. Optionally several
   connections replay at once (`workers`): schema changes are bound by the database server;
4. falls back to Django's MigrationExecutor (no system checks) for plans with Python
   operations (RunPython) or non-atomic migrations.

Each schema migrates in its own transaction: a failing schema is rolled back and reported,
the others proceed. The content types and permissions that Django's post_migrate handlers
would create for the migrated apps are part of the replayed SQL (inserted where missing).

Cloned schemas get the template's structure but not all of its names: pg-clone-schema
creates tables with `LIKE … INCLUDING ALL` and deliberately leaves multi-column unique
constraints under PostgreSQL's generated names (`…_key` instead of Django's `…_uniq` or a
UniqueConstraint's own name). A later migration naming such a constraint
(RemoveConstraint, for one) would fail in every cloned tenant. The rollout therefore renames
them to the template's names in every schema at the template's migration state (found with
one query), inside the schema's migration transaction when it is behind.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field

from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth.management import _get_all_permissions, create_permissions
from django.contrib.contenttypes.management import create_contenttypes
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone, translation

from .models import Tenant

# Schemas replayed per round trip. Each holds its locks until the batch commits, so keep
# this well below max_locks_per_transaction / locks per schema.
BATCH_SIZE = 25

Migrations = set[tuple[str, str]]


@dataclass
class RolloutReport:
    schemas: int = 0
    behind: int = 0
    migrated: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    applied_migrations: int = 0
    # Schemas whose clone-generated constraint names were renamed to the template's.
    renamed: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def type_app_labels() -> dict[str, set[str]]:
    """The app labels each tenant type migrates, from settings.TENANT_TYPES."""
    label_of = {cfg.name: cfg.label for cfg in global_apps.get_app_configs()}
    return {
        tenant_type: {label_of[name] for name in config["APPS"]}
        for tenant_type, config in settings.TENANT_TYPES.items()
    }


def template_schemas() -> dict[str, str]:
    """Tenant type -> the template schema its tenants are cloned from."""
    return {
        tenant_type: config["BASE_SCHEMA"]
        for tenant_type, config in settings.TENANT_TYPES.items()
        if config.get("BASE_SCHEMA")
    }


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _migration_tables(schemas: list[str]) -> dict[str, Migrations | None]:
    """Every (app, name) recorded in each schema's django_migrations, in two queries in all;
    None for a schema that has no django_migrations table (or does not exist)."""
    result: dict[str, Migrations | None] = dict.fromkeys(schemas)
    if not schemas:
        return result
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = 'django_migrations' AND c.relkind = 'r' AND n.nspname = ANY(%s)",
            [schemas],
        )
        present = [row[0] for row in cursor.fetchall()]
        if not present:
            return result
        for schema in present:
            result[schema] = set()
        union = " UNION ALL ".join(
            f"SELECT {_literal(schema)} AS s, app, name FROM {_quote(schema)}.django_migrations"
            for schema in present
        )
        cursor.execute(union)
        for schema, app, name in cursor.fetchall():
            result[schema].add((app, name))
    return result


def applied_by_schema(schemas: list[str]) -> dict[str, Migrations]:
    """One query: every (app, name) recorded in each schema's django_migrations."""
    return {schema: found or set() for schema, found in _migration_tables(schemas).items()}


def needed_migrations(loader: MigrationLoader) -> Migrations:
    """Every migration on disk. Like Django's migrate, a schema records all of them; those of
    apps its tenant type does not have are recorded as no-ops (the router skips their SQL)."""
    return set(loader.graph.nodes)


def _effective(loader: MigrationLoader, applied: Migrations) -> Migrations:
    """A squashed migration counts as applied once everything it replaces is (as in Django)."""
    result = set(applied)
    for key, migration in loader.replacements.items():
        if all(replaced in applied for replaced in migration.replaces):
            result.add(key)
    return result


def _ordered_plan(loader: MigrationLoader, missing: Migrations):
    order = []
    seen = set()
    for leaf in sorted(loader.graph.leaf_nodes()):
        for key in loader.graph.forwards_plan(leaf):
            if key in missing and key not in seen:
                seen.add(key)
                order.append(key)
    return [(loader.graph.nodes[key], False) for key in order]


def _is_sql_only(plan) -> bool:
    """Every operation reduces to SQL and every migration may run inside a transaction."""
    return all(
        migration.atomic and all(getattr(op, "reduces_to_sql", True) for op in migration.operations)
        for migration, _ in plan
    )


def _post_migrate_sql(labels: set[str], type_labels: set[str]) -> str:
    """SQL inserting what create_contenttypes and create_permissions (Django's post_migrate
    handlers) would create for these apps' models: only the missing rows, in Django's order,
    so it can be replayed in any schema."""
    if "contenttypes" not in type_labels:
        return ""
    models = [
        model
        for app_config in global_apps.get_app_configs()  # in INSTALLED_APPS order, as Django
        if app_config.label in labels
        for model in app_config.get_models()
    ]
    if not models:
        return ""
    types = ", ".join(
        f"({i}, {_literal(m._meta.app_label)}, {_literal(m._meta.model_name)})"
        for i, m in enumerate(models)
    )
    sql = (
        "INSERT INTO django_content_type (app_label, model) SELECT v.app_label, v.model "
        f"FROM (VALUES {types}) AS v(position, app_label, model) WHERE NOT EXISTS (SELECT 1 "
        "FROM django_content_type ct WHERE ct.app_label = v.app_label AND ct.model = v.model) "
        "ORDER BY v.position;"
    )
    with translation.override(None):  # migrate stores the untranslated names
        permissions = [
            (m._meta.app_label, m._meta.model_name, codename, str(name))
            for m in models
            for codename, name in _get_all_permissions(m._meta)
        ]
    if "auth" in type_labels and permissions:
        values = ", ".join(
            f"({i}, {', '.join(_literal(part) for part in row)})"
            for i, row in enumerate(permissions)
        )
        sql += (
            "\nINSERT INTO auth_permission (name, content_type_id, codename) "
            "SELECT v.name, ct.id, v.codename "
            f"FROM (VALUES {values}) AS v(position, app_label, model, codename, name) "
            "JOIN django_content_type ct ON ct.app_label = v.app_label AND ct.model = v.model "
            "WHERE NOT EXISTS (SELECT 1 FROM auth_permission p "
            "WHERE p.content_type_id = ct.id AND p.codename = v.codename) ORDER BY v.position;"
        )
    return sql


def _collect_sql(loader: MigrationLoader, plan, applied: Migrations) -> list[str]:
    """The plan's SQL for the current schema, starting from the state of what is applied.

    Django's `MigrationLoader.collect_sql` starts from the state before the plan's first
    migration, which lacks the models of other apps when a plan spans several apps.
    """
    nodes = sorted(key for key in applied if key in loader.graph.nodes)
    state = loader.graph.make_state(nodes=nodes, at_end=True, real_apps=loader.unmigrated_apps)
    statements = []
    for migration, _ in plan:
        with connection.schema_editor(collect_sql=True, atomic=migration.atomic) as editor:
            state = migration.apply(state, editor, collect_sql=True)
        statements.extend(editor.collected_sql)
    return statements


def _record_sql(plan) -> str:
    """INSERTs into django_migrations as Django records them: a squashed migration together
    with the migrations it replaces."""
    now = timezone.now().isoformat()
    keys = []
    for migration, _ in plan:
        keys.extend(migration.replaces)
        keys.append((migration.app_label, migration.name))
    values = ", ".join(f"({_literal(app)}, {_literal(name)}, '{now}')" for app, name in keys)
    return f"INSERT INTO django_migrations (app, name, applied) VALUES {values};"


def constraint_renames(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    """For (schema, template) pairs: the statements renaming each unique constraint that has
    the template's definition on the same table but another name. One query in all.

    A constraint is left alone when its name is one the template uses, when the template's
    name is taken in the schema, or when the match is ambiguous."""
    if not pairs:
        return {}
    with connection.cursor() as cursor:
        cursor.execute(
            """
            WITH pair AS (
                SELECT * FROM unnest(%s::text[], %s::text[]) AS p(schema_name, template_name)
            ),
            tpl AS (
                SELECT n.nspname AS template_name, c.relname AS table_name, con.conname,
                       pg_get_constraintdef(con.oid) AS definition
                FROM pg_constraint con
                JOIN pg_class c ON c.oid = con.conrelid
                JOIN pg_namespace n ON n.oid = con.connamespace
                WHERE con.contype = 'u' AND n.nspname IN (SELECT template_name FROM pair)
            )
            SELECT n.nspname, c.relname, con.conname, tpl.conname
            FROM pg_constraint con
            JOIN pg_class c ON c.oid = con.conrelid
            JOIN pg_namespace n ON n.oid = con.connamespace
            JOIN pair ON pair.schema_name = n.nspname
            JOIN tpl ON tpl.template_name = pair.template_name AND tpl.table_name = c.relname
            WHERE con.contype = 'u'
              AND con.conname <> tpl.conname
              AND NOT EXISTS (
                  SELECT 1 FROM tpl same
                  WHERE same.template_name = pair.template_name
                    AND same.table_name = c.relname AND same.conname = con.conname
              )
              AND NOT EXISTS (
                  SELECT 1 FROM pg_class taken
                  WHERE taken.relnamespace = n.oid AND taken.relname = tpl.conname
              )
              AND pg_get_constraintdef(con.oid) = tpl.definition
            ORDER BY 1, 2, 3, 4
            """,
            [[schema for schema, _ in pairs], [template for _, template in pairs]],
        )
        rows = cursor.fetchall()
    by_old: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    by_new: dict[tuple[str, str], int] = defaultdict(int)
    for schema, table, old, new in rows:
        by_old[(schema, table, old)].append(new)
        by_new[(schema, new)] += 1
    renames: dict[str, list[str]] = defaultdict(list)
    for (schema, table, old), news in by_old.items():
        if len(news) == 1 and by_new[(schema, news[0])] == 1:
            renames[schema].append(
                f"ALTER TABLE {_quote(table)} RENAME CONSTRAINT {_quote(old)} TO {_quote(news[0])};"
            )
    return dict(renames)


def _post_migrate(labels: set[str]) -> None:
    for app_config in global_apps.get_app_configs():
        if app_config.label in labels:
            create_contenttypes(app_config, verbosity=0, interactive=False)
            create_permissions(app_config, verbosity=0, interactive=False)


def _script(schema: str, sql: str) -> str:
    return f"SET LOCAL search_path = {_quote(schema)}, public;\n{sql}"


def _run_scripts(
    scripts: list[tuple[str, str]], batch_size: int, failed: dict, workers: int = 1
) -> list[str]:
    """Execute (schema, sql) scripts, `batch_size` per round trip and transaction (a savepoint
    inside an outer transaction), on `workers` connections at once. Returns the schemas that
    succeeded; failures go into `failed`, rolled back."""
    batches = [scripts[i : i + batch_size] for i in range(0, len(scripts), batch_size)]
    # Other connections cannot see an enclosing transaction's work: stay on this one there.
    if workers <= 1 or len(batches) <= 1 or connection.in_atomic_block:
        return _run_batches(batches, failed)
    count = min(workers, len(batches))
    results: list[tuple[list[str], dict]] = [([], {}) for _ in range(count)]

    def work(index: int) -> None:
        done, errors = results[index]
        try:
            done.extend(_run_batches(batches[index::count], errors))
        finally:
            connection.close()  # this thread's own connection

    threads = [
        threading.Thread(target=work, args=(i,), name=f"rollout-{i}", daemon=True)
        for i in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done: list[str] = []
    for succeeded, errors in results:
        done.extend(succeeded)
        failed.update(errors)
    return done


def _run_batches(batches: list[list[tuple[str, str]]], failed: dict) -> list[str]:
    done: list[str] = []
    for batch in batches:
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("\n".join(sql for _, sql in batch))
            done.extend(schema for schema, _ in batch)
        except Exception:  # find the broken schema(s): replay the batch one at a time
            for schema, sql in batch:
                _run_one(schema, sql, done, failed)
        finally:
            # SET LOCAL changed the search_path behind django-tenants' back.
            connection.set_schema_to_public()
    return done


def _run_one(schema: str, sql: str, done: list[str], failed: dict) -> None:
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql)
        done.append(schema)
    except Exception as exc:  # one broken schema must not stop the rollout
        failed[schema] = f"{type(exc).__name__}: {exc}".strip()
    finally:
        connection.set_schema_to_public()


def rollout(
    schema_names: list[str] | None = None,
    stdout=None,
    batch_size: int = BATCH_SIZE,
    workers: int | None = None,
) -> RolloutReport:
    """Bring every tenant schema (or the named ones) up to the latest migrations.

    `workers` connections replay SQL plans at once (default: settings.TENANT_ROLLOUT_WORKERS,
    else 1). Schema changes are server-bound, so more than the database's cores gains
    nothing. Inside an enclosing transaction the rollout always uses one connection."""
    if workers is None:
        workers = getattr(settings, "TENANT_ROLLOUT_WORKERS", 1)
    started = time.perf_counter()
    report = RolloutReport()
    connection.set_schema_to_public()
    tenants = list(Tenant.objects.exclude(schema_name="public").order_by("schema_name"))
    templates = template_schemas()
    if schema_names is not None:
        wanted = set(schema_names)
        tenants = [t for t in tenants if t.schema_name in wanted]
    report.schemas = len(tenants)
    loader = MigrationLoader(None, ignore_no_migrations=True)
    labels_by_type = type_app_labels()
    needed = needed_migrations(loader)
    lookup = sorted({t.schema_name for t in tenants} | set(templates.values()))
    recorded = _migration_tables(lookup)
    # What each schema has of the migrations on disk (rows of deleted migrations ignored).
    applied = {
        schema: _effective(loader, found) & needed
        for schema, found in recorded.items()
        if found is not None
    }

    groups: dict[tuple[str, frozenset], list[Tenant]] = defaultdict(list)
    for tenant in tenants:
        if tenant.schema_name not in applied:
            report.failed[tenant.schema_name] = (
                "The schema or its django_migrations table is missing; nothing was changed."
            )
            continue
        missing = needed - applied[tenant.schema_name]
        if missing:
            groups[(tenant.type, frozenset(missing))].append(tenant)
    report.behind = sum(len(members) for members in groups.values())

    # Schemas that are behind get the template's constraint names in their migration
    # transaction, provided they are at the template's state (so both have the same
    # constraints and the compiled SQL names what they have).
    behind = [t for members in groups.values() for t in members]
    renames = constraint_renames(_same_state_as_template(behind, templates, applied))

    for (tenant_type, missing), members in groups.items():
        plan = _ordered_plan(loader, set(missing))
        # Like migrate's post_migrate handlers: content types and permissions for the models
        # of every app (not just the type's), where the type has those two apps at all.
        labels = {m.app_label for m, _ in plan}
        before = needed - missing
        template = templates.get(tenant_type)
        if _is_sql_only(plan):
            # Compile against the template when it is at the same state: its names are
            # Django's own, which the operations that introspect constraints rely on.
            if template in applied and applied[template] == before:
                connection.set_schema(template, tenant_type=tenant_type)
            else:
                connection.set_tenant(members[0])
            try:
                statements = _collect_sql(loader, plan, before)
            finally:
                connection.set_schema_to_public()
            statements.append(_post_migrate_sql(labels, labels_by_type[tenant_type]))
            statements.append(_record_sql(plan))
            sql = "\n".join(statements)
            scripts = [
                (t.schema_name, _script(t.schema_name, _with_renames(renames, t, sql)))
                for t in members
            ]
            done = _run_scripts(scripts, batch_size, report.failed, workers)
        else:
            done = []
            for tenant in members:
                _apply_executor(tenant, plan, renames.get(tenant.schema_name), labels, done, report)
        report.migrated.extend(done)
        report.renamed.extend(schema for schema in done if schema in renames)
        report.applied_migrations += len(plan) * len(done)
        if stdout is not None:
            stdout.write(
                f"{len(done)}/{len(members)} schema(s) of type {tenant_type}: "
                f"{len(plan)} migration(s)\n"
            )

    # The others are renamed afterwards, compared with the template's state after the rollout.
    migrated = set(report.migrated)
    for schema in migrated:
        applied[schema] = needed
    settled = [
        t
        for t in tenants
        if t.schema_name in applied
        and t.schema_name not in migrated
        and t.schema_name not in report.failed
    ]
    repairs = [
        (schema, _script(schema, "\n".join(statements)))
        for schema, statements in constraint_renames(
            _same_state_as_template(settled, templates, applied)
        ).items()
    ]
    report.renamed.extend(_run_scripts(repairs, batch_size, report.failed, workers))
    report.migrated.sort()
    report.renamed.sort()
    connection.set_schema_to_public()
    report.seconds = time.perf_counter() - started
    return report


def _same_state_as_template(tenants, templates, applied) -> list[tuple[str, str]]:
    """(schema, template) for each tenant at its template's migration state."""
    return [
        (t.schema_name, templates[t.type])
        for t in tenants
        if t.type in templates
        and t.schema_name != templates[t.type]
        and templates[t.type] in applied
        and applied.get(t.schema_name) == applied[templates[t.type]]
    ]


def _with_renames(renames: dict[str, list[str]], tenant: Tenant, sql: str) -> str:
    statements = renames.get(tenant.schema_name)
    return "\n".join(statements) + "\n" + sql if statements else sql


def _apply_executor(tenant, plan, renames, labels, done, report) -> None:
    """Django's executor for plans with Python code; atomic per schema when every migration
    allows it."""
    atomic = all(migration.atomic for migration, _ in plan)
    try:
        with transaction.atomic() if atomic else nullcontext():
            connection.set_tenant(tenant)
            if renames:
                with connection.cursor() as cursor:
                    cursor.execute("\n".join(renames))
            executor = MigrationExecutor(connection)
            executor.migrate(targets=[(m.app_label, m.name) for m, _ in plan], plan=plan)
            _post_migrate(labels)
        done.append(tenant.schema_name)
    except Exception as exc:
        report.failed[tenant.schema_name] = f"{type(exc).__name__}: {exc}".strip()
    finally:
        connection.set_schema_to_public()
