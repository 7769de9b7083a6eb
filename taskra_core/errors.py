"""Every error Taskra raises on purpose, in one tree.

::

    TaskraError                      base: catch this to catch everything Taskra raises
     ├── ConfigurationError          a setting is missing or malformed
     ├── StartupError                plugins or registries are inconsistent at start-up
     │    └── PluginError            a plugin failed to load or implements an unknown hook
     ├── DatabaseError               the database is unreachable or its schema is behind
     ├── CryptoError
     │    ├── DecryptionError        a ciphertext was tampered with, or no key can open it
     │    └── PasswordTooLong        bcrypt only reads 72 bytes; longer is refused, not cut
     ├── JobError
     │    ├── UnknownJobKind         no handler is registered for a job's kind
     │    ├── LeaseLost              another worker took over a job whose lease ran out
     │    └── RetentionSweepFailed   a retention policy failed in the daily sweep (the
     │                               others ran); the job retries with backoff
     ├── DraftingError
     │    ├── ModelUnavailable       the AI provider failed for now (429, 529, 5xx, timeout,
     │    │                          garbled reply): retried with backoff
     │    ├── ModelRejected          the provider refused the request (400, 401, 403): not
     │    │                          retried; the draft fails and says why
     │    └── UnknownReplyModel      no reply model is registered under that name
     ├── DeliveryError               a reply could not be delivered (no channel, provider
     │    │                          failure); the send job retries
     │    └── MailError              an email could not be sent through the mail provider
     │         ├── MailUnavailable   the provider failed for now (429, 5xx, network):
     │         │                     retried later, ``retry_after`` when known
     │         └── MailRejected      the provider refused the email or the API key (4xx);
     │                               the mail job still retries, so fixing the cause
     │                               (e.g. RESEND_API_KEY) lets it go out
     ├── ShopifyError                talking to Shopify failed
     │    ├── InvalidSessionToken    an app-home ID token is missing, forged, expired or for
     │    │                          another app or shop; the page fetches a fresh one
     │    ├── ShopifyAuthError       Shopify refused the store's credentials (401,
     │    │                          invalid_grant): stored tokens are dropped, the next app
     │    │                          load re-authenticates
     │    ├── ShopifyUnavailable     Shopify could not answer now (429, THROTTLED, 5xx,
     │    │                          network): retried later, ``retry_after`` when known
     │    └── ShopifyRejected        Shopify refused the request itself (bad query, missing
     │                               scope, 4xx): not retried
     ├── OrdersUnavailable           an order source (Shopify) could not answer now: drafts say
     │                               order data is unavailable instead of guessing
     ├── WebhookRejected             a webhook delivery was refused; nothing was stored
     │    ├── WebhookMalformed       a required header is missing or malformed
     │    ├── WebhookSignatureInvalid  the signature matches the body under no secret
     │    └── WebhookTooLarge        the body is over the size limit
     ├── AccessError                 a standalone sign-in or its session was refused
     │    ├── LoginFailed            the email or password is wrong (never says which)
     │    ├── LoginRateLimited       too many failed sign-ins for an email or a client;
     │    │                          ``retry_after`` says when to try again
     │    ├── SessionInvalid         a session or login link is unknown, expired, revoked
     │    │                          or already used; sign in again
     │    ├── CsrfRejected           a cookie-authenticated write lacks its matching
     │    │                          ``X-CSRF-Token``, or a sign-in came from another site
     │    └── PermissionDenied       the account's role does not allow this (only
     │                               merchants manage accounts)
     ├── ProxySignatureInvalid       an app proxy (storefront) request is unsigned, forged,
     │                               stale, or repeats a signed parameter; nothing was read
     ├── ChatRateLimited             a storefront chat visitor, client or store sent too
     │                               many messages; ``retry_after`` says when to try again
     ├── NotFound                    a record does not exist (in this store)
     │    └── ChatSessionUnknown     a chat session token is unknown in this store, or
     │                               belongs to another customer; the widget starts anew
     └── InvalidInput                bad input; nothing was changed
          ├── ChatRequestTooLarge    a storefront chat body is over its size limit
          └── EmailRejected          an inbound email breaks a parsing limit (size, headers,
               │                     parts, nesting) or cannot be parsed safely
               ├── EmailTooLarge     the raw message is over the size limit
               └── UnknownRecipient  no installed store receives mail at its addresses

Messages say what happened and what to do about it. Mapping errors to HTTP statuses happens
only in the web shell (``taskra_shopify``); the core never knows about HTTP.
"""

from __future__ import annotations


class TaskraError(Exception):
    """Base class of every error Taskra raises on purpose."""


class ConfigurationError(TaskraError):
    """A setting is missing or malformed. The message names the environment variable."""


class StartupError(TaskraError):
    """Plugins or registries are inconsistent, so Taskra refuses to start."""


class PluginError(StartupError):
    """A plugin could not be loaded, or it implements a hook that does not exist."""


class DatabaseError(TaskraError):
    """The database cannot be reached, or its schema needs ``taskra db upgrade``."""


class CryptoError(TaskraError):
    """Encryption, decryption or password hashing failed."""


class DecryptionError(CryptoError):
    """A stored secret cannot be decrypted: tampered with, bound elsewhere, or an unknown key."""


class PasswordTooLong(CryptoError):
    """bcrypt reads only the first 72 bytes of a password; Taskra refuses longer ones."""


class JobError(TaskraError):
    """A problem with the durable job queue."""


class UnknownJobKind(JobError):
    """No handler is registered for this job kind; is the plugin that owns it installed?"""


class LeaseLost(JobError):
    """The job's lease expired and another worker claimed it; this run's result is discarded."""


class JobTimedOut(JobError):
    """An attempt ran longer than ``TASKRA_JOB_TIMEOUT_SECONDS`` and was cancelled; the job is
    retried with backoff like any failed attempt."""


class RetentionSweepFailed(JobError):
    """A retention policy failed during the daily sweep. The other policies still ran; the
    ``retention.sweep`` job is retried with backoff (``taskra retention run`` shows which)."""


class DraftingError(TaskraError):
    """Drafting a reply failed. The customer's message is kept either way."""


class ModelUnavailable(DraftingError):
    """The AI provider could not answer now (rate limit, overload, server error, timeout or a
    garbled reply). The draft job retries with backoff."""


class ModelRejected(DraftingError):
    """The AI provider refused the request (bad request, bad key, no permission). Retrying
    cannot help; the draft fails with this message so the merchant can fix the cause."""


class UnknownReplyModel(DraftingError):
    """No reply model is registered under the requested name (see ``TASKRA_REPLY_MODEL``)."""


class DeliveryError(TaskraError):
    """A reply could not be delivered: its channel is not installed or the provider failed.
    The send job retries; the reply is never dropped silently."""


class ShopifyError(TaskraError):
    """Talking to Shopify failed: verifying a session, exchanging tokens or calling its API."""


class InvalidSessionToken(ShopifyError):
    """An app-home ID token (session token) is missing, malformed, forged, expired, or names
    another app or shop. The embedded page recovers by fetching a fresh token from App
    Bridge; the merchant is never asked for anything."""


class ShopifyAuthError(ShopifyError):
    """Shopify refused the store's credentials (401, ``invalid_grant``), or none are stored.
    The stored tokens are dropped; opening the app in Shopify admin re-authenticates."""


class ShopifyUnavailable(ShopifyError):
    """Shopify could not answer now: rate limited (429, ``THROTTLED``), a server error or a
    network failure. Retrying later helps; ``retry_after`` says how long to wait, if known."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ShopifyRejected(ShopifyError):
    """Shopify refused the request itself (invalid query, missing scope, frozen shop, other
    4xx). Retrying the same request cannot help; the message says what Shopify answered."""


class WebhookRejected(TaskraError):
    """A webhook delivery was refused before anything was stored; the sender may retry."""


class WebhookMalformed(WebhookRejected):
    """A required header of the delivery is missing, empty or malformed."""


class WebhookSignatureInvalid(WebhookRejected):
    """The delivery's HMAC matches its body under none of the configured secrets (a forgery,
    or a secret that was rotated without keeping the previous one configured)."""


class WebhookTooLarge(WebhookRejected):
    """The delivery's body is larger than the configured limit."""


class StripeSignatureInvalid(WebhookRejected):
    """A Stripe delivery's ``Stripe-Signature`` is missing, malformed, stale (older than the
    tolerance) or signed with another secret. Answered 400, as Stripe expects."""


class BillingError(TaskraError):
    """A billing provider (Shopify Billing API, Stripe) failed or refused a request."""


class BillingUnavailable(BillingError):
    """The billing provider could not answer now (network, 429, 5xx); retrying later helps."""


class BillingRejected(BillingError):
    """The billing provider refused the request (bad plan or price id, missing customer);
    retrying the same request cannot help. The message says what it answered."""


class OrdersUnavailable(TaskraError):
    """A source of orders (a live Shopify store) exists but could not answer now: Shopify
    was down, rate limited, slow or refused the query. Drafting then tells the model that
    order data is unavailable and sends the draft to a person instead of guessing; the
    conversation page says the orders could not be loaded."""


class AccessError(TaskraError):
    """Signing in outside Shopify admin, or a session made that way, was refused."""


class LoginFailed(AccessError):
    """The email or password is wrong. Deliberately never says which, so the answer does not
    reveal whether an email has an account."""


class LoginRateLimited(AccessError):
    """Too many failed sign-ins for this email or from this client in a short window;
    ``retry_after`` (seconds) says when the oldest failure stops counting."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class SessionInvalid(AccessError):
    """A session or one-time login link is unknown, expired, revoked or already used."""


class CsrfRejected(AccessError):
    """A write authenticated by the session cookie did not carry the session's CSRF token
    in ``X-CSRF-Token``, or a sign-in form was posted from another site: either may have
    been forged by another site."""


class PermissionDenied(AccessError):
    """The signed-in account may not do this: its role does not allow it (only merchants
    invite and remove agents), or it is not an account of this store at all."""


class MailError(DeliveryError):
    """An email (an invitation, a sign-in link) could not be sent through the mail provider.
    The mail job retries it; nothing that caused the email is undone."""


class MailUnavailable(MailError):
    """The mail provider could not take the email now: rate limited (429), a server error
    or a network failure. Retrying later helps; ``retry_after`` is the wait it asked for."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MailRejected(MailError):
    """The mail provider refused the email or the credentials (bad API key, unverified
    sender domain, invalid address). The message says what it answered; retrying helps only
    once the cause is fixed."""


class NotFound(TaskraError):
    """The record does not exist, or does not belong to this store."""


class InvalidInput(TaskraError):
    """The input is malformed; nothing was changed."""


class EmailRejected(InvalidInput):
    """An inbound email was refused before anything was stored: it breaks one of the parsing
    limits (header size, number of MIME parts, nesting depth) or cannot be parsed safely. The
    message names the limit; a legitimate sender can resend a smaller or simpler message."""


class EmailTooLarge(EmailRejected):
    """The raw email is larger than the configured size limit; ask the sender to share large
    files as links instead of attachments."""


class UnknownRecipient(EmailRejected):
    """No installed store receives mail at any of the email's recipient addresses; it was
    refused without storing anything."""


class ProxySignatureInvalid(TaskraError):
    """A request through Shopify's app proxy (the storefront chat) is not signed by Shopify:
    its ``signature`` is missing or wrong, its ``timestamp`` is outside the allowed window, or
    it repeats ``shop``, ``signature``, ``timestamp`` or ``hmac``. Nothing was read or stored."""


class ChatRateLimited(TaskraError):
    """A storefront chat visitor, client address or store sent too many messages in a short
    window. The message is written for the visitor; ``retry_after`` (seconds) says when the
    window ends."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatRequestTooLarge(InvalidInput):
    """A storefront chat request's body is over ``TASKRA_CHAT_MAX_BODY_BYTES``; nothing was
    read or stored."""


class ChatSessionUnknown(NotFound):
    """A storefront chat session token is unknown in this store, or it was started by another
    logged-in customer. The widget forgets it and starts a new conversation."""
