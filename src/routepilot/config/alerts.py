"""Configuration of alerts (alerts/): receivers (webhooks with presets, email, SNMP traps),
their filters, and the conditions that raise alerts.

It lives in ``config/`` (re-exported as ``routepilot.alerts.config``) so that ``config/``
stays a leaf that imports no stage. Secrets (the SMTP password, a PagerDuty routing key,
an SNMP community or v3 passphrases) are never written in the file: it names a file or an
environment variable holding each, read at validation time into a private attribute that
no dump (``config dump``, ``/api/v1/config``) nor repr shows.
"""

from __future__ import annotations

import re
import zoneinfo
from typing import Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from routepilot.config.base import SnmpCredentials, StrictModel, read_secret, read_snmp_secrets

EventName = Literal[
    "provider_outage",
    "provider_brownout",
    "commit_overrun",
    "bgp_session_down",
    "controller_degraded",
    "ha_role_change",
    "ha_no_active",
    "incident",
    "test",
]
"""Every event the daemon emits (docs/events.md describes each; a unit test keeps the
catalog in ``routepilot.alerts.events`` and this list equal)."""

Severity = Literal["info", "warning", "critical"]

_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
_URL = r"^https?://[^\s/]+(/\S*)?$"


class RateLimitConfig(StrictModel):
    """At most ``max_alerts`` alerts sent to this receiver in any ``per_s`` seconds."""

    max_alerts: int = Field(ge=1, le=100_000)
    """Alerts allowed in the window; past it they are dropped (and counted)."""
    per_s: float = Field(gt=0, le=7 * 86400)
    """Length of the sliding window, in seconds."""


class QuietHoursConfig(StrictModel):
    """A daily window in which only the most severe alerts go to this receiver."""

    start: str = Field(pattern=_HHMM.pattern)
    """Start of the quiet window, ``HH:MM`` in ``timezone``."""
    end: str = Field(pattern=_HHMM.pattern)
    """End of the quiet window, ``HH:MM`` (before ``start``: the window spans midnight)."""
    timezone: str = "UTC"
    """IANA time zone of ``start`` and ``end`` (``Europe/Paris``)."""
    min_severity: Severity = "critical"
    """Alerts at or above this severity still go out during quiet hours."""

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _window(self) -> QuietHoursConfig:
        if self.start == self.end:
            raise ValueError("quiet_hours: start and end are equal (an empty window)")
        return self


class ReceiverFilter(StrictModel):
    """What one receiver gets: which events, from which severity, how many, and when."""

    events: list[EventName] | None = None
    """Events sent to this receiver; none: every event."""
    min_severity: Severity = "info"
    """Alerts below this severity are not sent to this receiver."""
    rate_limit: RateLimitConfig | None = None
    """At most so many alerts in a sliding window; none: no limit."""
    quiet_hours: QuietHoursConfig | None = None
    """A daily window in which only the most severe alerts are sent."""


class WebhookConfig(ReceiverFilter):
    """One receiver of alerts: a URL that takes a JSON POST, in one of the preset formats."""

    url: str | None = Field(None, pattern=_URL, max_length=2000)
    """Where alerts are POSTed (http or https); ``pagerduty`` defaults to the Events API v2."""
    url_file: str | None = None
    """File holding the URL instead of ``url``, when the URL is itself a secret (Slack's
    and Teams' are)."""
    url_env: str | None = None
    """Environment variable holding the URL instead of ``url``."""
    preset: Literal["generic", "slack", "teams", "pagerduty"] = "generic"
    """Body format: routepilot's own JSON, a Slack incoming webhook, a Microsoft Teams
    Adaptive Card, or a PagerDuty Events API v2 event."""
    routing_key_file: str | None = None
    """pagerduty: file holding the integration's routing key."""
    routing_key_env: str | None = None
    """pagerduty: environment variable holding the routing key."""
    timeout_s: float = Field(5.0, gt=0, le=60)
    """Time allowed for one delivery attempt."""

    _routing_key: SecretStr | None = PrivateAttr(None)
    _secret_url: SecretStr | None = PrivateAttr(None)

    @property
    def routing_key(self) -> SecretStr | None:
        """The PagerDuty routing key read from its file or variable."""
        return self._routing_key

    @property
    def target(self) -> str:
        """The URL alerts go to."""
        if self.url is not None:
            return self.url
        if self._secret_url is not None:
            return self._secret_url.get_secret_value()
        return "https://events.pagerduty.com/v2/enqueue"

    @property
    def shown(self) -> str:
        """The URL as logs and the CLI may show it (not one read from a file or variable)."""
        if self._secret_url is not None:
            return f"(url from {self.url_file or '$' + str(self.url_env)})"
        return self.target

    @model_validator(mode="after")
    def _complete(self) -> WebhookConfig:
        self._routing_key = read_secret(
            self.routing_key_file, self.routing_key_env, "webhook routing_key"
        )
        if self.preset == "pagerduty" and self._routing_key is None:
            raise ValueError("pagerduty needs routing_key_file or routing_key_env")
        self._secret_url = read_secret(self.url_file, self.url_env, "webhook url")
        given = sum(x is not None for x in (self.url, self.url_file, self.url_env))
        if given > 1:
            raise ValueError("a webhook takes one of url, url_file and url_env")
        if self.preset != "pagerduty" and given == 0:
            raise ValueError(f"a {self.preset} webhook needs url, url_file or url_env")
        if self._secret_url is not None and not re.match(_URL, self._secret_url.get_secret_value()):
            raise ValueError("webhook url_file/url_env: not an http(s) URL")
        return self


class EmailConfig(ReceiverFilter):
    """One email receiver: an SMTP server (STARTTLS and AUTH) and its recipients."""

    smtp_host: str = Field(min_length=1, max_length=253)
    """SMTP server (submission) host name or address."""
    smtp_port: int = Field(587, ge=1, le=65535)
    """SMTP port (587: submission with STARTTLS)."""
    starttls: bool = True
    """Upgrade to TLS (STARTTLS, RFC 3207) before AUTH and the message; refused if the
    server does not offer it."""
    tls_ca_file: str | None = None
    """PEM file of the CA(s) trusted for the server's certificate; none: the system's."""
    username: str | None = None
    """AUTH user; none: no AUTH."""
    password_file: str | None = None
    """File holding the AUTH password."""
    password_env: str | None = None
    """Environment variable holding the AUTH password."""
    from_: str = Field(alias="from", pattern=r"^[^\s@<>]+@[^\s@<>]+$")
    """Sender address."""
    to: list[str] = Field(min_length=1, max_length=100)
    """Recipient addresses."""
    timeout_s: float = Field(10.0, gt=0, le=120)
    """Time allowed for each SMTP step (connect, each command)."""

    model_config = {"populate_by_name": True, "serialize_by_alias": True}

    _password: SecretStr | None = PrivateAttr(None)

    @property
    def password(self) -> SecretStr | None:
        """The AUTH password read from its file or variable."""
        return self._password

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not re.match(r"^[^\s@<>,]+@[^\s@<>,]+$", address):
                raise ValueError(f"not an email address: {address!r}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> EmailConfig:
        self._password = read_secret(self.password_file, self.password_env, "email password")
        if self.username is not None and self._password is None:
            raise ValueError("email: username needs password_file or password_env")
        if self._password is not None and self.username is None:
            raise ValueError("email: a password needs a username")
        return self


class SnmpTrapConfig(ReceiverFilter, SnmpCredentials):
    """One SNMP trap receiver (a NMS or ``snmptrapd``), v2c or v3 (authPriv)."""

    host: str = Field(min_length=1, max_length=253)
    """Trap receiver address or host name."""
    port: int = Field(162, ge=1, le=65535)
    """Trap receiver UDP port."""
    engine_id: str | None = Field(None, pattern=r"^(0x)?[0-9a-fA-F]{10,64}$")
    """v3: routepilot's snmpEngineID in hex (the receiver keys the user to it, e.g.
    ``createUser -e`` in snmptrapd.conf); traps are sent by the authoritative engine."""

    @model_validator(mode="after")
    def _complete(self) -> SnmpTrapConfig:
        if self.version == "3" and (not self.user or not self.engine_id):
            raise ValueError("snmp trap v3 needs user and engine_id")
        read_snmp_secrets(self, "snmp trap")
        return self


class AlertsConfig(StrictModel):
    """Alerts on provider outage/brownout, commit overrun, BGP session down, controller
    degraded; raised and cleared on transitions, never repeated while they hold; sent to
    webhooks (generic, Slack, Teams, PagerDuty), email and SNMP traps."""

    webhooks: list[WebhookConfig] = Field(default_factory=list)
    """Webhook receivers; with no receiver at all alerts are only logged and counted."""
    email: list[EmailConfig] = Field(default_factory=list)
    """Email receivers (SMTP)."""
    snmp_traps: list[SnmpTrapConfig] = Field(default_factory=list)
    """SNMP trap receivers (ROUTEPILOT-MIB, docs/ROUTEPILOT-MIB.txt)."""
    queue_size: int = Field(1000, ge=1, le=100_000)
    """Alerts waiting per receiver; past it the oldest is dropped (and counted)."""
    max_attempts: int = Field(5, ge=1, le=20)
    """Delivery attempts per alert before giving up (and counting a failure)."""
    backoff_initial_s: float = Field(1.0, gt=0, le=600)
    """Wait before the first retry; doubled after each failed attempt."""
    backoff_max_s: float = Field(60.0, gt=0, le=3600)
    """Longest wait between two attempts."""
    brownout_loss: float = Field(0.02, gt=0, le=1)
    """Probe loss (0..1) at or above which a provider is browning out."""
    outage_loss: float = Field(0.5, gt=0, le=1)
    """Probe loss (0..1) at or above which a provider is out (so is a session down)."""
    loss_clear_ratio: float = Field(0.5, gt=0, le=1)
    """A firing brownout or outage holds until the provider's loss falls below its threshold
    times this (1: no hysteresis): a loss that wavers about the threshold is one alert,
    not one every few rounds."""
    commit_margin: float = Field(0.0, ge=0, le=10)
    """Commit overrun once the 95th percentile exceeds commit x (1 + margin)."""
    raise_after: int = Field(1, ge=1, le=100)
    """Consecutive observations a condition must hold before its alert fires."""
    clear_after: int = Field(3, ge=1, le=100)
    """Consecutive clean observations before a firing alert resolves (no flapping)."""
