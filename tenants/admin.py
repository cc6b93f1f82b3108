"""Platform admin (public schema only): tenants are created and deactivated through services."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .models import NEW_TENANT_TYPES, Domain, Tenant, TenantType


class TenantCreationForm(forms.ModelForm):
    type = forms.ChoiceField(
        label=_("Art"), choices=[(t, TenantType(t).label) for t in NEW_TENANT_TYPES]
    )

    class Meta:
        model = Tenant
        fields = ["type", "slug", "name"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.validate_new_tenant(
                cleaned.get("type", ""), cleaned.get("slug", ""), cleaned.get("name", "")
            )
        except services.ProvisioningError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return cleaned

    def validate_unique(self):
        """Uniqueness is part of validate_new_tenant's clear message."""


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    can_delete = False
    readonly_fields = ["domain", "is_primary"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "type", "is_active", "created_at"]
    list_filter = ["type", "is_active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["schema_name", "slug", "type", "created_at", "deactivated_at", "is_active"]
    fields = ["name", "slug", "type", "schema_name", "is_active", "created_at", "deactivated_at"]
    inlines = [DomainInline]
    actions = ["deactivate"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(is_template=False).exclude(schema_name="public")

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = TenantCreationForm
            kwargs["fields"] = ["type", "slug", "name"]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ["type", "slug", "name"] if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return [] if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        tenant = services.provision_tenant(
            request.user,
            tenant_type=form.cleaned_data["type"],
            slug=form.cleaned_data["slug"],
            name=form.cleaned_data["name"],
        )
        obj.pk = tenant.pk
        obj._state.adding = False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description=_("Ausgewählte Mandanten deaktivieren"))
    def deactivate(self, request, queryset):
        for tenant in queryset.filter(is_active=True):
            services.deactivate_tenant(request.user, tenant.slug)
        messages.success(request, _("Die ausgewählten Mandanten wurden deaktiviert."))
