"""Portal pages for vector stores: a LOB's stores (registered and deleted through `services`, with
their documents' status, recent ingestion jobs' progress and groundings), an upload page, and
read-only lists of documents and ingestion jobs. Scoping and permissions are
`access.portal.PortalAdmin`'s. Only metadata is shown: chunk text is LOB data and stays in the store."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from genai_platform.access.policy import WRITE
from genai_platform.access.portal import ADD, DELETE, VIEW, PortalAdmin
from genai_platform.access.selectors import user_can_in_lob
from genai_platform.formatting import when
from lob_tenants.models import UseCase
from lob_tenants.portal_forms import FormSection, bound_or_blank, errors_onto, form_page, sent_form
from lob_tenants.selectors import USE_CASE_PATH, use_case_by_path

from . import services
from .models import Document, IngestionJob, VectorStore
from .selectors import groundings_of, ingestion_failures, jobs_of, store_grants

#: Jobs shown on a store's page; the rest are in the ingestion job list.
RECENT_JOBS = 10


def _progress(job: IngestionJob) -> str:
    return f"{job.documents_processed}/{job.documents_total}"


class VectorStoreForm(forms.ModelForm):
    class Meta:
        model = VectorStore
        fields = [
            "lob",
            "slug",
            "name",
            "description",
            "embedding_alias",
            "dimensions",
            "metric",
            "data_classification",
            "ingestion_use_case",
            "backend",
            "connection",
            "chunk_size",
            "chunk_overlap",
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        fields = ("lob", "ingestion_use_case", "embedding_alias", "chunk_size", "chunk_overlap", "data_classification")
        if all(cleaned.get(name) is not None for name in fields):
            try:
                services.vector_store_check(
                    lob=cleaned["lob"],
                    ingestion_use_case=cleaned["ingestion_use_case"],
                    connection=cleaned.get("connection") or "",
                    chunk_size=cleaned["chunk_size"],
                    chunk_overlap=cleaned["chunk_overlap"],
                    embedding_alias=cleaned["embedding_alias"],
                    data_classification=cleaned["data_classification"],
                )
            except ValidationError as refused:
                self.add_error(None, refused)
        return cleaned


class _MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class _MultipleFileField(forms.FileField):
    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        files = data if isinstance(data, list | tuple) else [data]
        single = super().clean
        return [single(f, initial) for f in files]


class DocumentUploadForm(forms.Form):
    files = _MultipleFileField(
        widget=_MultipleFileInput(),
        help_text="Markdown, text, HTML or PDF. A file's name is its document id: uploading a file of the same "
        "name again replaces that document, and unchanged content is skipped.",
    )
    attributes = forms.JSONField(
        required=False, help_text='Metadata for every file, a JSON object (e.g. {"team": "billing"}).'
    )

    def clean_attributes(self) -> dict[str, Any]:
        value = self.cleaned_data.get("attributes") or {}
        if not isinstance(value, dict):
            raise ValidationError("A JSON object.")
        return value


class GroundingAttachForm(forms.Form):
    use_case = forms.ModelChoiceField(queryset=UseCase.objects.none(), help_text="A use case of the store's LOB.")
    top_k = forms.IntegerField(min_value=1, max_value=50, initial=4, help_text="Chunks added to each call, 1 to 50.")
    score_threshold = forms.FloatField(initial=0.0, help_text="Chunks scoring below this are not used.")

    def __init__(self, *args: Any, store: VectorStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["use_case"].queryset = UseCase.objects.filter(lob=store.lob).order_by("slug")


class GroundingDetachForm(forms.Form):
    use_case = forms.ModelChoiceField(queryset=UseCase.objects.none(), help_text="A use case grounded in this store.")

    def __init__(self, *args: Any, store: VectorStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        grounded = groundings_of(store).values("use_case")
        self.fields["use_case"].queryset = UseCase.objects.filter(pk__in=grounded).order_by("slug")


class VectorStoreShareForm(forms.Form):
    use_case = forms.RegexField(
        regex=USE_CASE_PATH,
        help_text="`<lob>/<use case>` of another LOB that may then search this store.",
        error_messages={"invalid": "Name it as <lob>/<use case>."},
    )

    def __init__(self, *args: Any, store: VectorStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)

    def clean_use_case(self) -> UseCase:
        use_case = use_case_by_path(self.cleaned_data["use_case"])
        if use_case is None:
            raise ValidationError("No such use case.")
        return use_case


class VectorStoreUnshareForm(forms.Form):
    use_case = forms.ModelChoiceField(queryset=UseCase.objects.none(), help_text="A use case it is shared with.")

    def __init__(self, *args: Any, store: VectorStore, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        shared = store_grants(store).values("group__use_case")
        self.fields["use_case"].queryset = UseCase.objects.filter(pk__in=shared).select_related("lob").order_by("pk")


#: The forms of a store's "groundings and sharing" page: (form, title, button, policy object to write).
STORE_LINK_FORMS: dict[str, tuple[type[forms.Form], str, str, str]] = {
    "attach": (GroundingAttachForm, "Ground a use case in this store", "Ground", "vector_store"),
    "detach": (GroundingDetachForm, "Stop grounding a use case", "Detach", "vector_store"),
    "share": (VectorStoreShareForm, "Share with another LOB's use case", "Share", "grant"),
    "unshare": (VectorStoreUnshareForm, "Withdraw a share", "Withdraw", "grant"),
}


def store_link_run(name: str, store: VectorStore, data: dict[str, Any], actor: Any) -> str:
    """The service behind each form of STORE_LINK_FORMS (the same the management API calls); what it did."""
    use_case = data["use_case"]
    if name == "attach":
        services.grounding_attach(
            use_case=use_case, store=store, actor=actor, top_k=data["top_k"], score_threshold=data["score_threshold"]
        )
        return f"{use_case} is grounded in {store.name}."
    if name == "detach":
        services.grounding_detach(use_case=use_case, store=store, actor=actor)
        return f"{use_case} is no longer grounded in {store.name}."
    if name == "share":
        services.vector_store_share(store=store, use_case=use_case, actor=actor)
        return f"{store.name} is shared with {use_case}."
    services.vector_store_unshare(store=store, use_case=use_case, actor=actor)
    return f"{store.name} is no longer shared with {use_case}."


@admin.register(VectorStore)
class VectorStoreAdmin(PortalAdmin):
    """A LOB's stores. Registering creates the collection (the embedding alias must be approved for
    the store's data); deleting drops every chunk. Documents are uploaded on the store's upload page
    or through the management API."""

    access_object = "vector_store"
    lob_path = "lob"
    portal_actions = frozenset({VIEW, ADD, DELETE})
    shared_relations = frozenset({"embedding_alias"})
    form = VectorStoreForm
    list_display = [
        "name",
        "slug",
        "public_id",
        "lob",
        "embedding_alias",
        "data_classification",
        "document_count",
        "chunk_total",
        "created_at",
    ]
    list_filter = ["lob", "data_classification"]
    list_select_related = ["lob", "embedding_alias"]
    search_fields = ["name", "slug", "public_id"]
    summary = [
        "public_id",
        "document_status",
        "recent_jobs",
        "grounded_use_cases",
        "shared_with",
        "created_by",
        "created_at",
    ]

    def portal_rows(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .portal_rows(request)
            .annotate(document_count=Count("documents"), chunk_total=Coalesce(Sum("documents__chunk_count"), 0))
        )

    @admin.display(description="documents", ordering="document_count")
    def document_count(self, store: VectorStore) -> int:
        return store.document_count  # type: ignore[attr-defined]

    @admin.display(description="chunks", ordering="chunk_total")
    def chunk_total(self, store: VectorStore) -> int:
        return store.chunk_total  # type: ignore[attr-defined]

    def get_fields(self, request: HttpRequest, obj: VectorStore | None = None) -> list[str]:
        return list(VectorStoreForm._meta.fields) if obj is None else [*self.summary, *VectorStoreForm._meta.fields]

    def get_readonly_fields(self, request: HttpRequest, obj: VectorStore | None = None) -> list[str]:
        return [] if obj is None else self.get_fields(request, obj)

    @admin.display(description="documents")
    def document_status(self, store: VectorStore) -> str:
        by_status = dict(store.documents.values_list("status").annotate(n=Count("pk")).order_by())
        listing = reverse("admin:vector_stores_document_changelist") + f"?store__id__exact={store.pk}"
        counts = ", ".join(f"{by_status[s]} {s}" for s in Document.Status.values if by_status.get(s)) or "none yet"
        upload = reverse("admin:vector_stores_vectorstore_upload", args=[store.pk])
        return format_html('{} — <a href="{}">list</a> · <a href="{}">upload documents</a>', counts, listing, upload)

    @admin.display(description="recent ingestion jobs")
    def recent_jobs(self, store: VectorStore) -> str:
        jobs = list(jobs_of(store)[:RECENT_JOBS])
        if not jobs:
            return "none yet"
        cells = [
            (
                reverse("admin:vector_stores_ingestionjob_change", args=[job.pk]),
                job.pk,
                job.get_status_display(),
                _progress(job),
                job.documents_unchanged,
                job.documents_failed,
                job.chunks_written,
                when(job.created_at),
            )
            for job in jobs
        ]
        row = '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>'
        rows = format_html_join("", row, cells)
        head = "<tr><th>job</th><th>status</th><th>processed</th><th>unchanged</th><th>failed</th><th>chunks</th>"
        return format_html("<table>" + head + "<th>started</th></tr>{}</table>", rows)

    @admin.display(description="grounds")
    def grounded_use_cases(self, store: VectorStore) -> str:
        found = [f"{g.use_case} (top {g.top_k}, score ≥ {g.score_threshold:g})" for g in groundings_of(store)]
        links = reverse("admin:vector_stores_vectorstore_links", args=[store.pk])
        return format_html('{} — <a href="{}">ground or detach</a>', "; ".join(found) or "no use case", links)

    @admin.display(description="shared with")
    def shared_with(self, store: VectorStore) -> str:
        found = [str(grant.group.use_case) for grant in store_grants(store)]
        links = reverse("admin:vector_stores_vectorstore_links", args=[store.pk]) + "#share"
        return format_html('{} — <a href="{}">share or withdraw</a>', ", ".join(found) or "none", links)

    def portal_save(self, request: HttpRequest, obj: VectorStore, form: Any, change: bool) -> VectorStore:
        data = form.cleaned_data
        return services.vector_store_create(
            lob=data["lob"],
            actor=request.user,
            slug=data["slug"],
            name=data["name"],
            description=data.get("description", ""),
            embedding_alias=data["embedding_alias"],
            dimensions=data["dimensions"],
            metric=data["metric"],
            data_classification=data["data_classification"],
            ingestion_use_case=data["ingestion_use_case"],
            backend=data["backend"],
            connection=data.get("connection") or "",
            chunk_size=data["chunk_size"],
            chunk_overlap=data["chunk_overlap"],
        )

    def portal_delete(self, request: HttpRequest, obj: VectorStore) -> None:
        services.vector_store_delete(store=obj, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        deleted, counts, _, protected = super().get_deleted_objects(objs, request)
        # Its documents, jobs and groundings are read-only pages, yet belong to the store: deleting
        # the store (`vector_store_delete`) takes them with it, so they need no right of their own.
        return deleted, counts, set(), protected

    # ---- the upload page ----

    def get_urls(self) -> list[Any]:
        upload = path(
            "<path:object_id>/upload/",
            self.admin_site.admin_view(self.upload_view),
            name="vector_stores_vectorstore_upload",
        )
        links = path(
            "<path:object_id>/links/",
            self.admin_site.admin_view(self.links_view),
            name="vector_stores_vectorstore_links",
        )
        return [upload, links, *super().get_urls()]

    def links_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Grounds use cases in the store and shares it (STORE_LINK_FORMS), each form posted on its own."""
        store = self.get_object(request, unquote(object_id))
        may_write = {obj: user_can_in_lob(request.user, store.lob, obj, WRITE) for obj in ("vector_store", "grant")}
        sent = sent_form(request)
        if sent and sent not in STORE_LINK_FORMS:
            raise Http404("No such form.")
        sections = []
        for name, (form_class, title, submit, policy_object) in STORE_LINK_FORMS.items():
            form = bound_or_blank(request, name, form_class, store=store)
            if name == sent:
                if not may_write[policy_object]:
                    raise PermissionDenied
                if form.is_valid():
                    try:
                        done = store_link_run(name, store, form.cleaned_data, request.user)
                    except (ValidationError, ValueError) as refused:
                        errors_onto(form, refused)
                    else:
                        messages.success(request, done)
                        return HttpResponseRedirect(reverse("admin:vector_stores_vectorstore_change", args=[store.pk]))
            if may_write[policy_object]:
                sections.append(FormSection(name, title, form, submit))
        return form_page(
            self,
            request,
            store,
            title="Groundings and sharing",
            sections=sections,
            can_write=any(may_write.values()),
            intro="A grounded use case's chat completions retrieve from this store; a new grounding of an approved "
            "use case sends it back to review. Sharing lets another LOB's use case search the store.",
        )

    def upload_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Uploads files for ingestion (the same service as the API); the job's progress is on its page."""
        store = self.get_object(request, object_id)
        if not (self.has_add_permission(request) and self.portal_allows(request, WRITE, store)):
            raise PermissionDenied
        form = DocumentUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            attributes = form.cleaned_data["attributes"]
            uploads = [
                services.Upload(
                    external_id=f.name,
                    filename=f.name,
                    content=f.read(),
                    content_type=f.content_type or "",
                    attributes=attributes,
                )
                for f in form.cleaned_data["files"]
            ]
            try:
                job = services.documents_ingest(store=store, uploads=uploads, actor=request.user)
            except ValidationError as refused:
                form.add_error(None, refused.messages)  # its keys (file, id, version) are no fields of this form
            else:
                messages.success(request, f"Ingestion job #{job.pk} accepted {job.documents_total} document(s).")
                return HttpResponseRedirect(reverse("admin:vector_stores_ingestionjob_change", args=[job.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": store,
            "title": f"Upload documents to {store.name}",
            "form": form,
        }
        return TemplateResponse(request, "admin/vector_stores/vectorstore/upload.html", context)


@admin.register(Document)
class DocumentAdmin(PortalAdmin):
    """A store's documents: id, version, status and chunk count, never their text."""

    access_object = "vector_store"
    lob_path = "store__lob"
    portal_actions = frozenset({VIEW, DELETE})
    list_display = ["external_id", "store", "version", "status", "chunk_count", "size_bytes", "updated_at"]
    list_filter = ["status", "store"]
    list_select_related = ["store__lob"]
    search_fields = ["external_id", "title", "source"]
    fields = readonly_fields = [
        "store",
        "external_id",
        "version",
        "title",
        "source",
        "content_type",
        "sha256",
        "size_bytes",
        "attributes",
        "status",
        "chunk_count",
        "error",
        "job",
        "updated_at",
    ]

    def portal_delete(self, request: HttpRequest, obj: Document) -> None:
        services.document_delete(document=obj, actor=request.user)  # its chunks leave the store with it


@admin.register(IngestionJob)
class IngestionJobAdmin(PortalAdmin):
    """Ingestion jobs with their progress counters and, once done, the documents they failed on."""

    access_object = "vector_store"
    lob_path = "store__lob"
    portal_actions = frozenset({VIEW})
    list_display = [
        "id",
        "store",
        "status",
        "progress",
        "documents_done",
        "documents_unchanged",
        "documents_failed",
        "chunks_written",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "store"]
    list_select_related = ["store__lob"]
    fields = readonly_fields = [
        "store",
        "status",
        "progress",
        "documents_total",
        "documents_done",
        "documents_unchanged",
        "documents_failed",
        "chunks_written",
        "failures",
        "created_by",
        "created_at",
        "finished_at",
    ]

    @admin.display(description="processed")
    def progress(self, job: IngestionJob) -> str:
        return _progress(job)

    @admin.display(description="failed documents")
    def failures(self, job: IngestionJob) -> str:
        failed = ingestion_failures([job.pk])
        if not failed:
            return "none"
        return format_html("<ul>{}</ul>", format_html_join("", "<li><code>{}</code>: {}</li>", failed))
