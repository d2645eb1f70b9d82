"""Email transport: one message per alert over SMTP, STARTTLS (RFC 3207) and AUTH (RFC 4954).

The standard library's :mod:`smtplib` does the protocol, in a worker thread so that the
event loop never waits on the server; every step is bounded by the receiver's timeout.
A firing alert's message has a Message-ID made from the condition and its start, and its
resolution refers to it (In-Reply-To, References), so mail clients show the two together.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from routepilot.alerts import presets
from routepilot.alerts.dispatch import DeliveryError
from routepilot.alerts.manager import Alert
from routepilot.config.alerts import EmailConfig


def _thread_id(alert: Alert, domain: str) -> str:
    """The Message-ID of this condition's firing message (the same for its resolution)."""
    ident = f"{alert.kind}.{alert.key}.{int(alert.started * 1000)}"
    safe = "".join(ch if ch.isalnum() or ch in ".-_" else "_" for ch in ident)
    return f"<routepilot.{safe}@{domain}>"


class EmailTransport:
    """Sends alerts to one SMTP server and its list of recipients."""

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self._tls = ssl.create_default_context(cafile=config.tls_ca_file)

    def message(self, alert: Alert) -> EmailMessage:
        c = self.config
        domain = c.from_.rsplit("@", 1)[1]
        msg = EmailMessage()
        msg["Subject"] = f"[routepilot] {presets.title(alert)}"
        msg["From"] = c.from_
        msg["To"] = ", ".join(c.to)
        msg["Date"] = formatdate(alert.time, localtime=False, usegmt=True)
        thread = _thread_id(alert, domain)
        if alert.state == "firing":
            msg["Message-ID"] = thread
        else:
            msg["Message-ID"] = make_msgid("routepilot", domain)
            msg["In-Reply-To"] = thread
            msg["References"] = thread
        msg["X-Routepilot-Event"] = alert.kind
        width = max(len(name) for name, _ in presets.facts(alert))
        lines = [alert.summary, ""]
        lines += [f"{name.ljust(width)}  {value}" for name, value in presets.facts(alert)]
        msg.set_content("\n".join(lines) + "\n")
        return msg

    async def start(self) -> None:
        pass

    async def send(self, alert: Alert) -> None:
        msg = self.message(alert)
        try:
            await asyncio.to_thread(self._send, msg)
        except smtplib.SMTPResponseException as exc:
            # 4xx is transient (RFC 5321 section 4.2.1); 5xx, bad credentials included, is not.
            error = exc.smtp_error
            text = (error.decode(errors="replace") if isinstance(error, bytes) else error)[:120]
            raise DeliveryError(f"smtp {exc.smtp_code} {text}", retry=exc.smtp_code < 500) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retry = all(code < 500 for code in codes)
            raise DeliveryError(f"smtp recipients refused {codes}", retry=retry) from None
        except ssl.SSLCertVerificationError as exc:
            raise DeliveryError(f"tls: {exc.verify_message}", retry=False) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", retry=True) from None

    def _send(self, msg: EmailMessage) -> None:
        c = self.config
        with smtplib.SMTP(c.smtp_host, c.smtp_port, timeout=c.timeout_s) as smtp:
            smtp.ehlo()
            if c.starttls:
                if not smtp.has_extn("starttls"):
                    # Never fall back to plain text: the password and the alert would go
                    # out readable by anyone on the path.
                    raise DeliveryError("the server does not offer STARTTLS", retry=False)
                smtp.starttls(context=self._tls)
                smtp.ehlo()
            if c.username is not None and c.password is not None:
                smtp.login(c.username, c.password.get_secret_value())
            smtp.send_message(msg)

    async def close(self) -> None:
        pass
