"""Provisioning a tenant schema from a compiled blueprint of its type's template.

django-tenants' `clone_schema` is a large PL/pgSQL function that walks the catalog for every
table, sequence, constraint and index each time it runs (about 0.25 s per tenant on a quiet
machine, several seconds when busy), and it recreates tables with `LIKE … INCLUDING ALL`,
which leaves multi-column unique constraints under PostgreSQL's generated names instead of
Django's.

A blueprint reads the template's catalog ONCE (a handful of queries) and compiles it into one
SQL script: CREATE SCHEMA, the tables with their columns, defaults, identity columns,
primary keys, unique, check and exclusion constraints, the indexes, the rows the template holds
(migration records, content types, permissions: copied from the template at provisioning
time), the identity sequences moved past those rows, and last the foreign keys. Provisioning
then replays the script in one round trip, inside the caller's transaction.

Names come from the template's catalog, so a provisioned schema has Django's own constraint and
index names. The blueprint is keyed by the template's migration state (one cheap query per
provisioning checks it), so a migrated template gets a new one. `kitaportal migrate` compiles
it and stores it in the public schema (`SchemaBlueprint`); each process keeps a copy.

Only what Django's migrations create is supported. A template holding anything else (views,
functions, triggers, free-standing sequences, unlogged or partitioned tables, ...) gives no
blueprint, and the caller falls back to `clone_schema`.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from django.db import connection


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Blueprint:
    template: str
    state: str
    # The script with every reference to the template schema replaced by PLACEHOLDER.
    script: str

    PLACEHOLDER = "@@kitaportal-schema@@"

    def sql_for(self, schema: str) -> str:
        return self.script.replace(self.PLACEHOLDER, quote(schema))


_cache: dict[str, Blueprint] = {}
_lock = threading.Lock()


# Part of the state key: a blueprint compiled by another version of this module is not reused.
FORMAT = "2"


def template_state(template: str) -> str | None:
    """A digest of the template's migration records (and of FORMAT); None when the template
    is missing."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{quote(template)}.django_migrations"])
        if cursor.fetchone()[0] is None:
            return None
        cursor.execute(
            "SELECT md5(%s || coalesce(string_agg(app || '.' || name, ',' ORDER BY app, name), "
            f"'')) FROM {quote(template)}.django_migrations",
            [FORMAT + ":"],
        )
        return cursor.fetchone()[0]


def blueprint_for(template: str) -> Blueprint | None:
    """The current blueprint of `template`: from this process's cache, else from the public
    table `kitaportal migrate` fills (tenants.SchemaBlueprint), else compiled and stored."""
    state = template_state(template)
    if state is None:
        return None
    cached = _cache.get(template)
    if cached is not None and cached.state == state:
        return cached
    from .models import SchemaBlueprint

    with _lock:
        stored = SchemaBlueprint.objects.filter(template=template, state=state).first()
        if stored is not None:
            script = stored.script
        else:
            script = compile_script(template)
            if script is None:
                _cache.pop(template, None)
                return None
            SchemaBlueprint.objects.update_or_create(
                template=template, defaults={"state": state, "script": script}
            )
        blueprint = Blueprint(template=template, state=state, script=script)
        _cache[template] = blueprint
        return blueprint


def provision_schema(template: str, schema: str) -> bool:
    """Create `schema` as a copy of `template` (structure and rows) in the current
    transaction. Returns False, changing nothing, when the template has no blueprint."""
    blueprint = blueprint_for(template)
    if blueprint is None:
        return False
    with connection.cursor() as cursor:
        cursor.execute(blueprint.sql_for(schema))
    return True


# What a Django-migrated schema may hold besides tables, their indexes and identity sequences.
_UNSUPPORTED = """
SELECT 'relation ' || c.relname || ' (kind ' || c.relkind::text || ', persistence '
       || c.relpersistence::text || ')'
FROM pg_class c
WHERE c.relnamespace = %(ns)s
  AND NOT (c.relkind IN ('r', 'i', 'S') AND c.relpersistence = 'p')
UNION ALL
SELECT 'sequence ' || c.relname || ' is not an identity column''s'
FROM pg_class c
WHERE c.relnamespace = %(ns)s AND c.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype = 'i')
UNION ALL
SELECT 'function ' || p.proname FROM pg_proc p WHERE p.pronamespace = %(ns)s
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t
WHERE t.typnamespace = %(ns)s AND t.typtype IN ('e', 'd', 'r', 'm')
UNION ALL
SELECT 'type ' || t.typname FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid
WHERE t.typnamespace = %(ns)s AND t.typtype = 'c' AND c.relkind = 'c'
UNION ALL
SELECT 'trigger ' || tg.tgname FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
WHERE c.relnamespace = %(ns)s AND NOT tg.tgisinternal
UNION ALL
SELECT 'rule ' || r.rulename FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class
WHERE c.relnamespace = %(ns)s
UNION ALL
SELECT 'policy ' || pol.polname FROM pg_policy pol JOIN pg_class c ON c.oid = pol.polrelid
WHERE c.relnamespace = %(ns)s
UNION ALL
SELECT 'table ' || c.relname || ' has row security or options'
FROM pg_class c WHERE c.relnamespace = %(ns)s AND c.relkind = 'r'
  AND (c.relrowsecurity OR c.reloptions IS NOT NULL)
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' is generated or has a default using '
       || 'a sequence'
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
  AND (a.attgenerated <> '' OR pg_get_expr(d.adbin, d.adrelid) LIKE '%%nextval(%%')
"""

_COLUMNS = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
       a.attidentity, pg_get_expr(d.adbin, d.adrelid),
       CASE WHEN a.attcollation <> t.typcollation THEN co.collname END,
       (SELECT s.relname FROM pg_depend dep JOIN pg_class s ON s.oid = dep.objid
        WHERE dep.refclassid = 'pg_class'::regclass AND dep.refobjid = c.oid
          AND dep.refobjsubid = a.attnum AND dep.classid = 'pg_class'::regclass
          AND dep.deptype = 'i' AND s.relkind = 'S')
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r'
ORDER BY c.relname, a.attnum
"""

_CONSTRAINTS = """
SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
WHERE c.relnamespace = %(ns)s AND c.relkind = 'r'
ORDER BY CASE con.contype WHEN 'p' THEN 0 WHEN 'u' THEN 1 WHEN 'x' THEN 2 WHEN 'c' THEN 3
         ELSE 4 END, c.relname, con.conname
"""

# Indexes of their own (a primary key's, unique or exclusion constraint's index comes with it).
_INDEXES = """
SELECT ic.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE ic.relnamespace = %(ns)s
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                  AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY ic.relname
"""


def compile_script(template: str) -> str | None:
    """The blueprint script of `template`, or None when it holds something unsupported."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [template])
        row = cursor.fetchone()
        if row is None:
            return None
        params = {"ns": row[0]}
        cursor.execute(_UNSUPPORTED, params)
        if cursor.fetchall():
            return None
        # With an empty search_path the catalog functions qualify every name, so each
        # reference to the template can be pointed at the new schema.
        cursor.execute("SELECT set_config('search_path', '', false)")
        try:
            cursor.execute(_COLUMNS, params)
            columns = cursor.fetchall()
            cursor.execute(_CONSTRAINTS, params)
            constraints = cursor.fetchall()
            cursor.execute(_INDEXES, params)
            indexes = cursor.fetchall()
        finally:
            connection.set_schema_to_public()  # restores the search_path django-tenants set
        tables = sorted({row[0] for row in columns})
        populated = _populated_tables(cursor, template, tables)

    target = Blueprint.PLACEHOLDER
    pattern = re.compile(rf'(?<![\w"$]){re.escape(quote(template))}\.|(?<![\w"$]){template}\.')

    def retarget(sql: str) -> str:
        return pattern.sub(lambda _: target + ".", sql)

    by_table: dict[str, list[tuple]] = {}
    for row in columns:
        by_table.setdefault(row[0], []).append(row[1:])
    statements = [f"CREATE SCHEMA {target};"]
    identities: dict[str, tuple[str, str]] = {}  # table -> (column, sequence)
    # Primary keys, unique, check and exclusion constraints go into CREATE TABLE (one statement
    # per table instead of one ALTER each); the foreign keys of a table into one ALTER TABLE
    # at the end, after the rows.
    inline: dict[str, list[str]] = {}
    foreign: dict[str, list[str]] = {}
    for table, name, kind, definition in constraints:
        clause = f"CONSTRAINT {quote(name)} {retarget(definition)}"
        (foreign if kind == "f" else inline).setdefault(table, []).append(clause)
    for table in tables:
        parts = []
        for name, type_sql, not_null, identity, default, collation, sequence in by_table[table]:
            part = f"{quote(name)} {retarget(type_sql)}"
            if collation:
                part += f" COLLATE {quote(collation)}"
            if identity:
                kind = "ALWAYS" if identity == "a" else "BY DEFAULT"
                part += f" GENERATED {kind} AS IDENTITY (SEQUENCE NAME {target}.{quote(sequence)})"
                identities[table] = (name, sequence)
            elif default is not None:
                part += f" DEFAULT {retarget(default)}"
            if not_null:
                part += " NOT NULL"
            parts.append(part)
        parts.extend(inline.get(table, []))
        statements.append(f"CREATE TABLE {target}.{quote(table)} ({', '.join(parts)});")
    foreign_keys = [
        f"ALTER TABLE {target}.{quote(table)} "
        + ", ".join(f"ADD {clause}" for clause in clauses)
        + ";"
        for table, clauses in sorted(foreign.items())
    ]
    statements.extend(retarget(definition) + ";" for _, definition in indexes)
    for table in populated:
        names = ", ".join(quote(name) for name, *_ in by_table[table])
        overriding = " OVERRIDING SYSTEM VALUE" if table in identities else ""
        statements.append(
            f"INSERT INTO {target}.{quote(table)} ({names}){overriding} "
            f"SELECT {names} FROM {quote(template)}.{quote(table)};"
        )
        if table in identities:
            column, sequence = identities[table]
            statements.append(
                f"SELECT setval('{target}.{quote(sequence)}', max({quote(column)})) "
                f"FROM {target}.{quote(table)} HAVING max({quote(column)}) IS NOT NULL;"
            )
    statements.extend(foreign_keys)
    return "\n".join(statements)


def _populated_tables(cursor, template: str, tables: list[str]) -> list[str]:
    """The template's tables that hold rows, in one query."""
    if not tables:
        return []
    union = " UNION ALL ".join(
        f"SELECT {i} WHERE EXISTS (SELECT 1 FROM {quote(template)}.{quote(table)})"
        for i, table in enumerate(tables)
    )
    cursor.execute(union)
    return [tables[row[0]] for row in cursor.fetchall()]
