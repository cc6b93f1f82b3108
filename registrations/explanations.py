"""Plain-language explanations of a child's outcome (German and English via Django i18n).

Built from a ``RunOutcome``'s explanation data (the engine's per-wish capacity, cutoff and
own priority): "Platz bei Ihrem Wunsch 2", or for each better wish "Alle 12 Plätze für
U3/35 h gingen an Kinder mit höherer Priorität; der letzte Platz ging an 41 Punkte; Ihr
Kind hatte 37." Unplaced children get their waiting position per wish. No other child's
data appears: only scores and counts.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from .models import District, Facility


def _numbers(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _names(keys: set[str]) -> dict[str, str]:
    ids = [int(k[1:]) for k in keys if k.startswith("f") and k[1:].isdigit()]
    names = {
        f"f{pk}": name for pk, name in Facility.objects.filter(pk__in=ids).values_list("pk", "name")
    }
    slugs = [k.split(":", 1)[1] for k in keys if k.startswith("KTP:")]
    for slug, name in District.objects.filter(slug__in=slugs).values_list("slug", "name"):
        names[f"KTP:{slug}"] = _("Kindertagespflege in %(district)s") % {"district": name}
    return names


def explain(outcome) -> list[str]:
    """Sentences explaining ``outcome`` in the active language (first the result)."""
    entries = outcome.explanation or []
    names = _names({e["facility"] for e in entries})
    lines = []
    if outcome.facility_id or outcome.daycare_district_id:
        where = outcome.facility.name if outcome.facility_id else _("Kindertagespflege")
        lines.append(
            _("%(child)s: Platz bei Ihrem Wunsch %(wish)d (%(where)s).")
            % {"child": outcome.child.first_name, "wish": outcome.wish_number or 0, "where": where}
        )
    else:
        lines.append(
            _("%(child)s: In dieser Runde war bei keinem Ihrer Wünsche ein Platz frei.")
            % {"child": outcome.child.first_name}
        )
    category = f"{'U3' if outcome.age_group == 'U3' else 'Ü3'}/{outcome.care_hours} h"
    for entry in entries:
        name = names.get(entry["facility"], entry["facility"])
        head = _("Wunsch %(wish)d (%(kita)s)") % {"wish": entry["wish"], "kita": name}
        values = {
            "capacity": entry["capacity"],
            "category": category,
            "cutoff": _numbers(entry["cutoff"]) if entry["cutoff"] is not None else "",
            "own": _numbers(entry["own_priority"]),
        }
        reason = entry["reason"]
        if reason == "no_places":
            text = _("diese Kita hat keine Plätze für %(category)s.") % values
        elif reason == "not_joint":
            text = _("diese Kita kann nicht alle Geschwister gemeinsam aufnehmen.")
        elif reason == "outranked":
            text = (
                _(
                    "alle %(capacity)d Plätze für %(category)s gingen an Kinder mit höherer "
                    "Priorität; der letzte Platz ging an %(cutoff)s Punkte; Ihr Kind hatte "
                    "%(own)s."
                )
                % values
            )
        elif reason == "tie_break":
            text = (
                _(
                    "alle %(capacity)d Plätze für %(category)s sind vergeben; der letzte Platz "
                    "ging an ein Kind mit ebenfalls %(cutoff)s Punkten, das nach der "
                    "Reihenfolge bei Punktgleichheit (älteres Kind, frühere Voranmeldung, Los) "
                    "vorging."
                )
                % values
            )
        elif reason == "reserved":
            text = (
                _(
                    "alle %(capacity)d Plätze für %(category)s sind Belegplätze von "
                    "Arbeitgebern und gingen an berechtigte Kinder."
                )
                % values
            )
        else:  # group_not_admitted
            text = _(
                "Ihr Kind allein wäre aufgenommen worden, aber nicht alle Geschwister; Sie "
                "möchten sie nur gemeinsam betreuen lassen."
            )
        line = f"{head}: {text}"
        if entry.get("waiting_position"):
            line += " " + _("Wartelistenplatz: %(position)d.") % {
                "position": entry["waiting_position"]
            }
        lines.append(line)
    return lines
