"""Sending text messages (短信): a development backend that writes to the log, and a provider's HTTP API.

Pick one with the SMS_BACKEND setting. A backend is an object with `send(phone, text)` that raises
`SmsNotSent` when the message could not be handed over.
"""
import collections
import json
import logging
import threading
import urllib.error
import urllib.request

from civic.core.errors import DomainError
from civic.core.i18n import N_

log = logging.getLogger("civic.sms")


class SmsNotSent(DomainError):
    status = 503
    reason = "sms_not_sent"
    default_message = N_("The text message could not be sent. Please try again in a few minutes.")


class LogSender:
    """Development and demo: the message goes to the log and to a short in-memory outbox (/dev/sms)."""

    def __init__(self, size=20):
        self.outbox = collections.deque(maxlen=size)
        self._lock = threading.Lock()

    def send(self, phone, text):
        log.warning("SMS to %s: %s", phone, text)
        with self._lock:
            self.outbox.appendleft((phone, text))

    def sent(self):
        """The latest messages, newest first."""
        with self._lock:
            return list(self.outbox)


class HttpSender:
    """A provider's HTTP API: POST {"phone", "text"} as JSON with a bearer token; any 2xx is accepted.

    Providers with another request shape sit behind a small relay, or get their own sender class."""

    def __init__(self, url, token="", timeout=10.0):
        self.url, self.token, self.timeout = url, token, timeout

    def send(self, phone, text):
        if not self.url:
            raise SmsNotSent()
        body = json.dumps({"phone": phone, "text": text}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json; charset=utf-8"})
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - configured URL
                if not 200 <= response.status < 300:
                    raise SmsNotSent()
        except (urllib.error.URLError, OSError) as error:
            log.error("SMS provider refused or unreachable: %s", error)
            raise SmsNotSent() from error


_log_sender = LogSender()


def sender_for(config):
    """The backend named by SMS_BACKEND."""
    backend = config.get("SMS_BACKEND", "log")
    if backend == "log":
        return _log_sender
    if backend == "http":
        return HttpSender(config.get("SMS_HTTP_URL", ""), config.get("SMS_HTTP_TOKEN", ""),
                          float(config.get("SMS_HTTP_TIMEOUT", 10)))
    raise RuntimeError(f"Unknown SMS_BACKEND {backend!r}: use 'log' or 'http'")
