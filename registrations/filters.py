"""The facility finder's filters. Every filter narrows in SQL (no per-facility queries); invalid
input becomes a message next to its field and is otherwise ignored."""

from datetime import date, time

import django_filters
from django import forms
from django.db.models import Exists, FloatField, OuterRef, Q, Value
from django.db.models.functions import ASin, Cast, Cos, Power, Radians, Sin, Sqrt
from django.utils.translation import gettext_lazy as _
from kitaportal.widgets import StableChoices, use_fast_selects

from integrations.geocoder import EARTH_RADIUS_KM, Point, get_geocoder

from .models import AgeGroup, AgeGroupOffer, CareHours, Carrier, District, Facility, FacilityTag
from .services import age_group_at

OPENS_BY = time(7, 0)
CLOSES_FROM = time(17, 0)
DATE_INPUT = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def distance_km(origin: Point):
    """Great-circle (haversine) distance from `origin` to each facility, as an SQL expression."""
    lat = Radians(Cast("latitude", FloatField()))
    lon = Radians(Cast("longitude", FloatField()))
    lat0 = Radians(Value(origin.latitude, output_field=FloatField()))
    lon0 = Radians(Value(origin.longitude, output_field=FloatField()))
    half = Power(Sin((lat - lat0) / 2), 2) + Cos(lat0) * Cos(lat) * Power(Sin((lon - lon0) / 2), 2)
    return Value(2 * EARTH_RADIUS_KM, output_field=FloatField()) * ASin(Sqrt(half))


class FinderForm(forms.Form):
    """Cross-field checks: the age group at the start date, the place to sort from."""

    def clean_near(self):
        value = " ".join((self.cleaned_data.get("near") or "").split())
        if not value:
            return None
        point = get_geocoder().locate(value)
        if point is None:
            raise forms.ValidationError(
                _("Diesen Ort kennen wir nicht. Bitte eine PLZ oder einen Bezirk angeben.")
            )
        return point

    def clean(self):
        cleaned = super().clean()
        birth, start = cleaned.get("birth_date"), cleaned.get("start_date")
        self.computed_age_group = None
        if birth and start:
            if start < birth:
                self.add_error("start_date", _("Der Betreuungsbeginn liegt vor dem Geburtsdatum."))
            else:
                self.computed_age_group = age_group_at(birth, start)
                cleaned["age_group"] = self.computed_age_group
        elif birth and "start_date" not in self.errors:
            self.add_error("start_date", _("Bitte auch den gewünschten Betreuungsbeginn angeben."))
        elif start and "birth_date" not in self.errors:
            self.add_error("birth_date", _("Bitte auch das Geburtsdatum angeben."))
        return cleaned

    def clean_birth_date(self):
        value = self.cleaned_data.get("birth_date")
        today = date.today()
        if value and not date(today.year - 8, 1, 1) <= value <= date(today.year + 1, 12, 31):
            raise forms.ValidationError(_("Bitte ein Geburtsdatum der letzten Jahre angeben."))
        return value


class FacilityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Suche (Name, Straße, PLZ)"))
    # District (by slug) and carrier (by id) choose from lists the finder keeps per data
    # version (finder.filter_choices), so an uncached query asks only for its matches.
    district = django_filters.ChoiceFilter(
        field_name="district__slug", label=_("Bezirk"), empty_label=None
    )
    birth_date = django_filters.DateFilter(
        method="keep", label=_("Geburtsdatum des Kindes"), widget=DATE_INPUT
    )
    start_date = django_filters.DateFilter(
        method="keep", label=_("gewünschter Betreuungsbeginn"), widget=DATE_INPUT
    )
    age_group = django_filters.ChoiceFilter(
        choices=AgeGroup.choices,
        method="filter_age_group",
        label=_("oder Altersgruppe direkt wählen"),
        empty_label=_("alle Altersgruppen"),
    )
    care_hours = django_filters.ChoiceFilter(
        choices=CareHours.choices,
        method="filter_care_hours",
        label=_("Betreuungsumfang"),
        empty_label=_("alle Umfänge"),
    )
    opens_early = django_filters.BooleanFilter(
        method="filter_opens_early",
        widget=forms.CheckboxInput,
        label=_("öffnet spätestens 7:00 Uhr"),
    )
    closes_late = django_filters.BooleanFilter(
        method="filter_closes_late",
        widget=forms.CheckboxInput,
        label=_("schließt frühestens 17:00 Uhr"),
    )
    tags = django_filters.MultipleChoiceFilter(
        choices=FacilityTag.choices,
        method="filter_tags",
        widget=forms.CheckboxSelectMultiple,
        label=_("Merkmale (alle gewählten)"),
    )
    carrier = django_filters.ChoiceFilter(
        field_name="carrier_id", label=_("Träger"), empty_label=None
    )
    near = django_filters.CharFilter(
        method="sort_by_distance",
        label=_("nach Entfernung sortieren ab (PLZ oder Bezirk)"),
    )

    class Meta:
        model = Facility
        form = FinderForm
        fields = [
            "q",
            "district",
            "birth_date",
            "start_date",
            "age_group",
            "care_hours",
            "opens_early",
            "closes_late",
            "tags",
            "carrier",
            "near",
        ]

    EMPTY_LABELS = {"district": _("alle Bezirke"), "carrier": _("alle Träger")}

    def __init__(self, data=None, queryset=None, *, choices=None, **kwargs):
        super().__init__(data, queryset, **kwargs)
        if choices is None:
            choices = self.current_choices()
        for name, stable in choices.items():
            self.filters[name].extra["choices"] = stable

    @classmethod
    def current_choices(cls) -> dict:
        """The district and carrier choices read now (the finder passes its kept ones)."""
        labels = {name: str(label) for name, label in cls.EMPTY_LABELS.items()}
        return {
            "district": [("", labels["district"]), *District.objects.values_list("slug", "name")],
            "carrier": [("", labels["carrier"]), *Carrier.objects.values_list("pk", "name")],
        }

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(street__icontains=value)
            | Q(postcode__startswith=value)
            | Q(carrier__name__icontains=value)
        )

    def keep(self, queryset, name, value):
        """Birth and start date only compute the age group (see FinderForm.clean)."""
        return queryset

    def filter_age_group(self, queryset, name, value):
        offers = AgeGroupOffer.objects.filter(
            facility=OuterRef("pk"), age_group=value, places__gt=0
        )
        return queryset.filter(Exists(offers))

    def filter_care_hours(self, queryset, name, value):
        return queryset.filter(care_hours__contains=[int(value)])

    def filter_opens_early(self, queryset, name, value):
        return queryset.filter(opens_at__lte=OPENS_BY) if value else queryset

    def filter_closes_late(self, queryset, name, value):
        return queryset.filter(closes_at__gte=CLOSES_FROM) if value else queryset

    def filter_tags(self, queryset, name, value):
        return queryset.filter(tags__contains=list(value)) if value else queryset

    def sort_by_distance(self, queryset, name, value):
        if not isinstance(value, Point):
            return queryset
        return queryset.annotate(distance_km=distance_km(value)).order_by("distance_km", "name")

    @property
    def computed_age_group(self) -> str | None:
        if not self.is_bound:
            return None
        self.is_valid()
        return getattr(self.form, "computed_age_group", None)

    @property
    def form(self):
        form = super().form
        for name in self.EMPTY_LABELS:
            # the kept list itself (django-filter wraps choices in an iterator of its own)
            stable = self.filters[name].extra["choices"]
            if isinstance(stable, StableChoices):
                form.fields[name].widget.choices = stable
        form = use_fast_selects(form)
        for field in form.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "select")
        if self.is_bound and form.is_valid() is False:
            for name in form.errors:
                if name in form.fields:
                    form.fields[name].widget.attrs.update(
                        {"aria-invalid": "true", "aria-describedby": f"id_{name}-error"}
                    )
        return form
