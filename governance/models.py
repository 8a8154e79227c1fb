"""Governance records: use-case intake, reviews and approvals, guardrail policies, captured exchanges.

The audit log they write to lives below every domain app, in `genai_platform.audit`."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# ---- Use-case intake, risk tiering and approvals ----


class RiskTier(models.TextChoices):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    PROHIBITED = "prohibited"


class EuAiActCategory(models.TextChoices):
    PROHIBITED_PRACTICE = "prohibited_practice", "Prohibited practice (Art. 5)"
    HIGH_RISK = "high_risk", "High-risk (Annex III area)"
    TRANSPARENCY = "transparency", "Transparency obligations (Art. 50)"
    MINIMAL = "minimal", "Minimal risk"


class Intake(models.Model):
    """What a LOB declares about a use case when it asks for production; the risk tier follows from it
    by the rules in `governance.tiering`."""

    class Autonomy(models.TextChoices):
        HUMAN_IN_THE_LOOP = "human_in_the_loop", "Human in the loop (a person approves each output)"
        HUMAN_ON_THE_LOOP = "human_on_the_loop", "Human on the loop (a person supervises and can intervene)"
        AUTONOMOUS = "autonomous", "Autonomous"

    class AnnexIIIArea(models.TextChoices):
        NONE = "none", "None of these"
        BIOMETRICS = "biometrics"
        CRITICAL_INFRASTRUCTURE = "critical_infrastructure", "Critical infrastructure"
        EDUCATION = "education", "Education and vocational training"
        EMPLOYMENT = "employment", "Employment and workers management"
        ESSENTIAL_SERVICES = "essential_services", "Access to essential services (credit scoring, insurance pricing)"
        LAW_ENFORCEMENT = "law_enforcement", "Law enforcement"
        MIGRATION = "migration", "Migration, asylum and border control"
        JUSTICE = "justice", "Administration of justice and democratic processes"

    class ProhibitedPractice(models.TextChoices):
        NONE = "none", "None of these"
        SOCIAL_SCORING = "social_scoring", "Social scoring"
        MANIPULATION = "manipulation", "Subliminal or manipulative techniques"
        EXPLOITING_VULNERABILITIES = "exploiting_vulnerabilities", "Exploiting vulnerabilities (age, disability)"
        FACE_SCRAPING = "face_scraping", "Untargeted scraping of facial images"
        WORKPLACE_EMOTION_RECOGNITION = "workplace_emotion_recognition", "Emotion recognition at work or school"
        INDIVIDUAL_PREDICTIVE_POLICING = "individual_predictive_policing", "Predicting crime from profiling alone"
        SENSITIVE_BIOMETRIC_CATEGORISATION = (
            "sensitive_biometric_categorisation",
            "Biometric categorisation by sensitive traits",
        )

    use_case = models.OneToOneField("lob_tenants.UseCase", on_delete=models.CASCADE, related_name="intake")
    business_problem = models.TextField()
    intended_outcome = models.TextField()
    success_metrics = models.TextField()
    business_owner = models.CharField(max_length=200)
    people_affected = models.TextField(help_text="Who is affected by the outputs, and how many.")
    customer_facing = models.BooleanField(default=False)
    personal_data = models.BooleanField(default=False)
    jurisdictions = models.JSONField(default=list, blank=True, help_text='e.g. ["EU", "US-CA"]')
    autonomy = models.CharField(max_length=32, choices=Autonomy.choices, default=Autonomy.HUMAN_IN_THE_LOOP)
    tools_and_actions = models.JSONField(default=list, blank=True, help_text="Actions it may take on its own.")
    expected_monthly_requests = models.PositiveIntegerField(default=0)
    monthly_budget_usd = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    annex_iii_area = models.CharField(max_length=40, choices=AnnexIIIArea.choices, default=AnnexIIIArea.NONE)
    prohibited_practice = models.CharField(
        max_length=40, choices=ProhibitedPractice.choices, default=ProhibitedPractice.NONE
    )
    generates_synthetic_media = models.BooleanField(default=False, help_text="Images, audio or video.")
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices, editable=False)
    eu_ai_act_category = models.CharField(max_length=24, choices=EuAiActCategory.choices, editable=False)
    tier_reasons = models.JSONField(default=list, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"intake of {self.use_case} ({self.risk_tier})"


class ModelApproval(models.Model):
    """The data classifications the central team approved a catalog alias to receive."""

    alias = models.OneToOneField("model_catalog.Alias", on_delete=models.CASCADE, related_name="approval")
    classifications = models.JSONField(default=list, help_text='e.g. ["public", "internal", "confidential"]')
    approved_by = models.CharField(max_length=200)
    approved_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.alias}: {', '.join(self.classifications) or 'nothing'}"


class Review(models.Model):
    """One round of board review of a use case, on a snapshot of what was submitted."""

    class Status(models.TextChoices):
        OPEN = "open"
        APPROVED = "approved"
        CHANGES_REQUESTED = "changes_requested"
        REJECTED = "rejected"
        WITHDRAWN = "withdrawn"

    use_case = models.ForeignKey("lob_tenants.UseCase", on_delete=models.CASCADE, related_name="reviews")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN)
    risk_tier = models.CharField(max_length=16, choices=RiskTier.choices)
    required_specialties = models.JSONField(default=list)
    snapshot = models.JSONField(help_text="The intake and requested models as submitted.")
    material_change = models.BooleanField(default=False, help_text="Opened by a change to an approved use case.")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField()
    sla_due_at = models.DateTimeField()
    escalated_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case"], condition=models.Q(status="open"), name="review_one_open_per_use_case"
            )
        ]

    def __str__(self) -> str:
        return f"review of {self.use_case} ({self.status})"


class ReviewDecision(models.Model):
    class Verdict(models.TextChoices):
        APPROVE = "approve"
        REQUEST_CHANGES = "request_changes"
        REJECT = "reject"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="decisions")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    specialty = models.CharField(max_length=16)
    verdict = models.CharField(max_length=16, choices=Verdict.choices)
    comment = models.TextField()
    evidence = models.FileField(upload_to="review-evidence/%Y/%m/", blank=True)
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["review", "reviewer"], name="review_decision_once")]

    def __str__(self) -> str:
        return f"{self.reviewer} ({self.specialty}): {self.verdict}"


class Approval(models.Model):
    """The board's approval of a use case, with the conditions the gateway enforces at run time."""

    class Status(models.TextChoices):
        CURRENT = "current"
        SUPERSEDED = "superseded"
        EXPIRED = "expired"
        SUSPENDED = "suspended"
        RETIRED = "retired"

    class PromptCapture(models.TextChoices):
        NONE = "none"
        HASHED = "hashed"
        REDACTED = "redacted"
        FULL = "full"

    use_case = models.ForeignKey("lob_tenants.UseCase", on_delete=models.CASCADE, related_name="approvals")
    review = models.OneToOneField(Review, null=True, blank=True, on_delete=models.PROTECT, related_name="approval")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CURRENT)
    approved_at = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)
    allowed_aliases = models.ManyToManyField("model_catalog.Alias", related_name="+")
    guardrail_policy_version = models.CharField(max_length=64, blank=True, help_text="Pinned policy version.")
    monthly_budget_cap_usd = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    prompt_capture = models.CharField(max_length=16, choices=PromptCapture.choices, default=PromptCapture.NONE)
    human_review_of_outputs = models.BooleanField(default=False)
    expiry_warning_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-approved_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["use_case"], condition=models.Q(status="current"), name="approval_one_current_per_use_case"
            )
        ]

    def __str__(self) -> str:
        return f"approval of {self.use_case} until {self.expires_at:%Y-%m-%d} ({self.status})"


class CapturedExchange(models.Model):
    """A prompt and answer kept as the use case's approval says (`hashed`, `redacted` or `full`).

    This is LOB data: readable by the LOB's members, and by the central team only through
    break-glass. The audit log holds the digests, which prove the capture was not altered."""

    request_id = models.CharField(max_length=64, unique=True)
    lob = models.ForeignKey("lob_tenants.Lob", on_delete=models.PROTECT, related_name="+")
    use_case = models.ForeignKey("lob_tenants.UseCase", on_delete=models.PROTECT, related_name="+")
    level = models.CharField(max_length=16)
    prompt = models.TextField(blank=True)
    output = models.TextField(blank=True)
    captured_at = models.DateTimeField()

    class Meta:
        ordering = ["-captured_at"]

    def __str__(self) -> str:
        return f"{self.request_id} ({self.level})"


# ---- Guardrail policies ----


class GuardrailPolicyRecord(models.Model):
    """A named guardrail policy of one scope: the central baseline, a LOB's, or one use case's."""

    class Scope(models.TextChoices):
        CENTRAL = "central"
        LOB = "lob"
        USE_CASE = "use_case", "Use case"

    scope = models.CharField(max_length=16, choices=Scope.choices)
    lob = models.ForeignKey("lob_tenants.Lob", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    use_case = models.ForeignKey(
        "lob_tenants.UseCase", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    name = models.SlugField(max_length=100)

    class Meta:
        verbose_name = "guardrail policy"
        verbose_name_plural = "guardrail policies"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(scope="central", lob__isnull=True, use_case__isnull=True)
                | models.Q(scope="lob", lob__isnull=False, use_case__isnull=True)
                | models.Q(scope="use_case", lob__isnull=True, use_case__isnull=False),
                name="guardrail_policy_scope_matches_owner",
            ),
            models.UniqueConstraint(fields=["scope", "lob", "use_case", "name"], name="guardrail_policy_unique"),
        ]

    def __str__(self) -> str:
        owner = self.lob or self.use_case or "central"
        return f"{self.name} ({owner})"


class GuardrailPolicyVersion(models.Model):
    """One version of a policy. A draft is edited; a published version is numbered and never changes.
    The latest enforced version applies; a version published in shadow runs detect-only beside it."""

    class Status(models.TextChoices):
        DRAFT = "draft"
        PUBLISHED = "published"

    class Mode(models.TextChoices):
        ENFORCED = "enforced"
        SHADOW = "shadow"

    policy = models.ForeignKey(GuardrailPolicyRecord, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(null=True, blank=True, help_text="Set when published.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.ENFORCED)
    document = models.JSONField(help_text="The policy's stable JSON form (governance.guardrails.policy).")
    fingerprint = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["policy", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy", "number"], condition=models.Q(number__isnull=False), name="guardrail_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number}" if self.number else f"{self.policy} (draft)"


class GuardrailShadowCount(models.Model):
    """One counter of a shadow rollout where no shared cache exists (the embedded setup): how often a
    check acted, under the enforced policy or the shadow candidate, for one shadow version. Every
    process of the deployment adds to the same rows (`governance.shadow_rollout`)."""

    #: `<scope>:<owner>:<policy name>@v<number>`: the version, whoever owns it.
    version_key = models.CharField(max_length=300)
    name = models.CharField(max_length=100)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version_key", "name"], name="guardrail_shadow_count_once")]

    def __str__(self) -> str:
        return f"{self.version_key} {self.name}={self.count}"
