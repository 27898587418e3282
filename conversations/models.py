from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .choices import DocumentFormat, DocumentSource, DocumentStatus, LogStatus, Rating

# The vector index collection that holds the knowledge-base chunks.
VECTOR_COLLECTION = "conversations"


class Document(models.Model):
    """A knowledge-base document; its chunks are what RAG retrieves."""

    title = models.CharField(_("title"), max_length=255)
    # "source" alone is the model trainer's too (where an example came from).
    source = models.CharField(
        pgettext_lazy("document", "source"),
        max_length=16,
        choices=DocumentSource.choices,
        default=DocumentSource.UPLOAD,
    )
    format = models.CharField(_("format"), max_length=16, choices=DocumentFormat.choices, default=DocumentFormat.TEXT)
    text = models.TextField(_("text"))
    sha256 = models.CharField(
        _("SHA-256"), max_length=64, unique=True, help_text=_("Of the text; the same text is stored once.")
    )
    size_bytes = models.PositiveIntegerField(_("size (bytes)"))
    status = models.CharField(
        _("status"), max_length=16, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.TextField(_("error"), blank=True)
    chunk_count = models.PositiveIntegerField(_("chunks"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("added by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    indexed_at = models.DateTimeField(_("indexed at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self):
        return self.title


class DocumentChunk(models.Model):
    """A retrievable piece of a document. Its primary key is its id in the
    vector index; the embedding is kept so the index can be rebuilt without
    embedding everything again."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks", verbose_name=_("document"))
    position = models.PositiveIntegerField(_("position"))
    text = models.TextField(_("text"))
    embedding = models.BinaryField(_("embedding"), null=True, editable=False)
    embedding_model = models.CharField(_("embedding model"), max_length=100, blank=True)

    class Meta:
        ordering = ["document_id", "position"]
        constraints = [models.UniqueConstraint(fields=["document", "position"], name="chunk_position_unique")]
        verbose_name = _("document chunk")
        verbose_name_plural = _("document chunks")

    def __str__(self):
        return f"{self.document_id}#{self.position}"


class ConversationLog(models.Model):
    """One question and its answer, stored whatever happened to the answer."""

    # Who called the API (an account); `user_id` is the end-user label the
    # caller passes, as in the seed (for example "guest").
    account = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversation_logs",
        verbose_name=_("account"),
    )
    user_id = models.CharField(_("user ID"), max_length=64)
    session_id = models.CharField(_("session ID"), max_length=64, blank=True)
    question = models.TextField(_("question"))
    answer = models.TextField(_("answer"), blank=True)
    status = models.CharField(_("status"), max_length=16, choices=LogStatus.choices)
    error = models.TextField(_("error"), blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    provider = models.CharField(_("provider"), max_length=32, blank=True)
    model = models.CharField(_("model"), max_length=100, blank=True)
    streamed = models.BooleanField(_("streamed"), default=False)
    top_k = models.PositiveSmallIntegerField(_("chunks retrieved"), default=0)
    sources = models.JSONField(_("sources"), default=list, blank=True, help_text=_("Cited chunks with their scores."))
    latency_ms = models.FloatField(_("latency (ms)"), help_text=_("Whole request: retrieval, generation and storage."))
    retrieval_ms = models.FloatField(_("retrieval time (ms)"), null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(_("prompt tokens"), null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(_("answer tokens"), null=True, blank=True)
    rating = models.SmallIntegerField(_("rating"), choices=Rating.choices, null=True, blank=True)
    feedback_comment = models.TextField(_("feedback comment"), blank=True)
    feedback_tags = models.JSONField(_("feedback tags"), default=list, blank=True)
    feedback_at = models.DateTimeField(_("feedback given at"), null=True, blank=True)
    # Derived when the log is written (aiplatform.text): the full-text
    # document and the keywords counted by the stats.
    search_terms = models.TextField(_("search terms"), blank=True, editable=False)
    keywords = models.TextField(_("keywords"), blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # The local (TIME_ZONE) date, fixed at write time: the key of the daily
    # rollups this log was counted in.
    day = models.DateField(_("day"), editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["created_at", "id"], name="convlog_created"),
            models.Index(fields=["user_id", "created_at"], name="convlog_user_created"),
            models.Index(fields=["account", "created_at"], name="convlog_account_created"),
            models.Index(fields=["session_id", "created_at"], name="convlog_session_created"),
            models.Index(fields=["status", "created_at"], name="convlog_status_created"),
        ]
        verbose_name = _("conversation log")
        verbose_name_plural = _("conversation logs")

    def __str__(self):
        return f"{self.user_id}: {self.question[:40]}"


class ConversationLogTerm(models.Model):
    """The search index on MariaDB/MySQL (SQLite has FTS5):
    one row per distinct term of a log, in its stored form (see
    conversations.search). The primary key (term, log) lists a term's logs in
    id order, so the newest page of matches is a page of index entries however
    common the term is. Empty on SQLite, which searches its FTS5 table."""

    pk = models.CompositePrimaryKey("term", "log")
    term = models.CharField(max_length=84)
    log = models.ForeignKey(ConversationLog, on_delete=models.CASCADE, related_name="terms")

    class Meta:
        verbose_name = _("search index entry")
        verbose_name_plural = _("search index entries")

    def __str__(self):
        return f"{self.term} → {self.log_id}"


class DailyStat(models.Model):
    """Per day and status, over all logs: what the stats read instead of
    scanning a million rows. Kept in step by the services that write logs."""

    day = models.DateField()
    status = models.CharField(max_length=16, choices=LogStatus.choices)
    count = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)
    # {bucket index: count}; see conversations.rollups.latency_bucket.
    latency_histogram = models.JSONField(default=dict)
    prompt_tokens = models.PositiveBigIntegerField(default=0)
    completion_tokens = models.PositiveBigIntegerField(default=0)
    rating_up = models.PositiveIntegerField(default=0)
    rating_down = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "status"], name="dailystat_unique")]
        verbose_name = _("daily stat")
        verbose_name_plural = _("daily stats")

    def __str__(self):
        return f"{self.day} {self.status}: {self.count}"


class DailyUserStat(models.Model):
    """Per day and end user (`user_id`)."""

    day = models.DateField()
    user_id = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)
    latency_histogram = models.JSONField(default=dict)
    rating_up = models.PositiveIntegerField(default=0)
    rating_down = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "user_id"], name="dailyuserstat_unique")]
        indexes = [
            models.Index(fields=["user_id", "day"], name="dailyuserstat_user_day"),
            # Covers the per-user ranking over a day range (no row reads).
            models.Index(fields=["day", "user_id", "count"], name="dailyuserstat_day_user_count"),
        ]
        verbose_name = _("daily user stat")
        verbose_name_plural = _("daily user stats")

    def __str__(self):
        return f"{self.day} {self.user_id}: {self.count}"


class DailyKeyword(models.Model):
    """How many logs of a day mention a keyword."""

    day = models.DateField()
    term = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "term"], name="dailykeyword_unique")]
        # Covers the keyword ranking over a day range (no row reads).
        indexes = [models.Index(fields=["day", "term", "count"], name="dailykeyword_day_term_count")]
        verbose_name = _("daily keyword")
        verbose_name_plural = _("daily keywords")

    def __str__(self):
        return f"{self.day} {self.term}: {self.count}"


class DailyUserKeyword(models.Model):
    """How many logs of an end user on a day mention a keyword: the top
    keywords of one user without reading their logs."""

    day = models.DateField()
    user_id = models.CharField(max_length=64)
    term = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user_id", "day", "term"], name="dailyuserkeyword_unique"),
        ]
        verbose_name = _("daily user keyword")
        verbose_name_plural = _("daily user keywords")

    def __str__(self):
        return f"{self.day} {self.user_id} {self.term}: {self.count}"


class MonthlyUserStat(models.Model):
    """Per month (its first day) and end user: ranking users over a year reads
    twelve rows per user instead of 365."""

    month = models.DateField()
    user_id = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "user_id"], name="monthlyuserstat_unique")]
        verbose_name = _("monthly user stat")
        verbose_name_plural = _("monthly user stats")

    def __str__(self):
        return f"{self.month:%Y-%m} {self.user_id}: {self.count}"


class MonthlyKeyword(models.Model):
    """How many logs of a month mention a keyword."""

    month = models.DateField()
    term = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "term"], name="monthlykeyword_unique")]
        verbose_name = _("monthly keyword")
        verbose_name_plural = _("monthly keywords")

    def __str__(self):
        return f"{self.month:%Y-%m} {self.term}: {self.count}"
