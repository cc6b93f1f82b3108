import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .models import AgeGroup, CareHours, District, Facility


class FacilityFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Suche (Name, Straße, PLZ)"))
    district = django_filters.ModelChoiceFilter(
        queryset=District.objects.all(),
        to_field_name="slug",
        label=_("Bezirk"),
        empty_label=_("alle Bezirke"),
    )
    age_group = django_filters.ChoiceFilter(
        choices=AgeGroup.choices,
        method="filter_age_group",
        label=_("Altersgruppe"),
        empty_label=_("alle Altersgruppen"),
    )
    care_hours = django_filters.ChoiceFilter(
        choices=CareHours.choices,
        method="filter_care_hours",
        label=_("Betreuungsumfang"),
        empty_label=_("alle Umfänge"),
    )

    class Meta:
        model = Facility
        fields = ["q", "district", "age_group", "care_hours"]

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

    def filter_age_group(self, queryset, name, value):
        return queryset.filter(age_groups__age_group=value, age_groups__places__gt=0)

    def filter_care_hours(self, queryset, name, value):
        return queryset.filter(care_hours__contains=[int(value)])

    @property
    def form(self):
        form = super().form
        for field in form.fields.values():
            if isinstance(field.widget, forms.Select):
                field.widget.attrs.setdefault("class", "select")
        return form
