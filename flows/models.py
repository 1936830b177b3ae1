import base64
import secrets

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from flowsite.secrets import EncryptedCharField


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra):
        if not email:
            raise ValueError("An email is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True, max_length=254)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    nick = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=255, null=True, blank=True)
    avatar_url = models.URLField(blank=True)
    # `disabled` is the Flowdock notion (a blocked account); `is_active` is Django's login switch.
    disabled = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(null=True, blank=True)
    last_ping = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.email

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() or self.nick or self.email

    def get_full_name(self) -> str:
        return self.name

    def get_short_name(self) -> str:
        return self.nick or self.first_name or self.email


class Organization(models.Model):
    name = models.CharField(max_length=100)
    parameterized_name = models.SlugField(max_length=120, unique=True)
    user_limit = models.PositiveIntegerField(default=0, help_text="0 means no limit.")
    active = models.BooleanField(default=True)
    # Twilio credentials per organization; empty means "use the settings".
    twilio_account_sid = models.CharField(max_length=64, blank=True)
    twilio_auth_token = EncryptedCharField(max_length=500, blank=True)
    twilio_from_number = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="OrganizationMembership", related_name="organizations")

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class OrganizationMembership(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="organization_memberships")
    admin = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="unique_organization_member")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"


def new_flow_id() -> str:
    # Random, not sequential, so ids reveal nothing about other flows (seed 002).
    return secrets.token_hex(8)


def new_schema_version() -> int:
    # Random rather than counted up: a change that rolls back must not leave its number free for a
    # later, different change, or a schema cached inside the rolled-back transaction would pass for it.
    return secrets.randbits(62)


def new_join_token() -> str:
    return secrets.token_hex(20)


def new_signing_secret() -> str:
    # Standard Webhooks format: "whsec_" + base64 of the key bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Flow(models.Model):
    class AccessMode(models.TextChoices):
        INVITATION = "invitation"
        LINK = "link"
        ORGANIZATION = "organization"

    class Module(models.TextChoices):
        LEADS = "leads"
        CONTACTS = "contacts"
        ACCOUNTS = "accounts"
        OPPORTUNITIES = "opportunities"
        TASKS = "tasks"
        PROJECTS = "projects"

    id = models.CharField(primary_key=True, max_length=32, default=new_flow_id, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="flows")
    name = models.CharField(max_length=100)
    # Fixed at creation: renaming a flow keeps its URL (seed 002).
    parameterized_name = models.SlugField(max_length=120)
    access_mode = models.CharField(max_length=20, choices=AccessMode.choices, default=AccessMode.INVITATION)
    disabled = models.BooleanField(default=False)
    module = models.CharField(max_length=20, choices=Module.choices, blank=True, default="")
    join_token = models.CharField(max_length=64, default=new_join_token, unique=True)
    signing_secret = EncryptedCharField(max_length=255, default=new_signing_secret)
    # Replaced by every change to the flow's fields or stages (flows.services.flow_schema_bump), so a
    # process may keep them cached under (flow, version). Save a Flow with update_fields: a full
    # save would write back the version it was read with.
    schema_version = models.BigIntegerField(default=new_schema_version, editable=False)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="FlowMembership", related_name="flows")

    class Meta:
        ordering = ["organization_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "parameterized_name"], name="unique_flow_slug_per_org")
        ]

    def __str__(self) -> str:
        return self.name


class FlowMembership(models.Model):
    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="flow_memberships")
    # Blocked by an admin: the person keeps the row (so a rejoin is refused) but loses access.
    disabled = models.BooleanField(default=False)
    # Flowdock clients show a tab per open flow.
    open = models.BooleanField(default=True)
    # May design the flow (stages, fields, actions) besides organization admins.
    can_edit = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["flow", "user"], name="unique_flow_member")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.user} in {self.flow}"


class Stage(models.Model):
    class Outcome(models.TextChoices):
        WON = "won"
        LOST = "lost"
        CONVERTED = "converted"

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=20, default="#64748b")
    position = models.PositiveIntegerField(default=0)
    end_stage = models.BooleanField(default=False)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "flow", name="unique_stage_name_per_flow"),
        ]

    def __str__(self) -> str:
        return self.name


class Field(models.Model):
    class Type(models.TextChoices):
        TEXT = "text"
        LONG_TEXT = "longText"
        NUMBER = "number"
        PHONE = "phone"
        CURRENCY = "currency"
        DATE = "date"
        DATETIME = "datetime"
        PERSON = "person"
        SINGLE_SELECT = "singleSelect"
        MULTIPLE_SELECT = "multipleSelect"
        CHECKBOX = "checkbox"
        UNIQUE_ID = "uniqueId"
        FILE = "file"
        EMAIL = "email"
        URL = "url"

    flow = models.ForeignKey(Flow, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=100)
    type = models.CharField(max_length=20, choices=Type.choices)
    required = models.BooleanField(default=False)
    editable = models.BooleanField(default=True)
    options = models.JSONField(default=list, blank=True)
    unique = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    # Next value for a uniqueId field; bumped under a row lock.
    next_value = models.PositiveBigIntegerField(default=1)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "flow", name="unique_field_name_per_flow"),
            models.UniqueConstraint(fields=["flow"], condition=models.Q(unique=True), name="one_unique_key_per_flow"),
        ]

    def __str__(self) -> str:
        return self.name


class CacheVersion(models.Model):
    """Versions that database triggers replace (with a new random number, so a rolled-back value
    never comes back) in the transaction of every write to the tables they cover (flows.triggers).
    Processes cache reads under them (flows.selectors.version_cached):

    ACCESS: tokens, users, organizations, their memberships, flows and flow memberships: who a token
    is and which flow a person may work in (migration flows 0004).
    WORKFLOWS: workflows and their actions: a flow's active workflows (migration workflows 0004)."""

    ACCESS = 1
    WORKFLOWS = 2

    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.pk}: {self.value}"
