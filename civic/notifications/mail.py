"""Sending e-mail over SMTP: plain, STARTTLS (MAIL_USE_TLS) or TLS from the start (MAIL_USE_SSL).
Every message carries Date and Message-ID, so mail servers and mail programs accept and thread it."""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from civic.core.errors import Invalid


def mail_configured(config):
    return bool(config.get("MAIL_SERVER"))


def build_message(config, to, subject, body):
    """An e-mail with From, To, Subject, Date and a Message-ID on the site's domain."""
    msg = EmailMessage()
    msg["From"] = config["MAIL_FROM"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    domain = config["MAIL_FROM"].rpartition("@")[2] or "civic.local"
    msg["Message-ID"] = make_msgid(domain=domain.strip(">"))
    msg.set_content(body)
    return msg


def connect(config):
    """An SMTP connection, encrypted as configured and signed in when a user name is set."""
    if not mail_configured(config):
        raise Invalid("E-mail is not set up on this site.")
    host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
    context = ssl.create_default_context(cafile=config.get("MAIL_CA_FILE") or None)
    if config.get("MAIL_USE_SSL"):
        smtp = smtplib.SMTP_SSL(host, port, timeout=30, context=context)
    else:
        smtp = smtplib.SMTP(host, port, timeout=30)
        if config.get("MAIL_USE_TLS"):
            smtp.starttls(context=context)
    if config.get("MAIL_USERNAME"):
        smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
    return smtp


def send(config, messages):
    """Send the messages over one connection; returns how many were sent."""
    with connect(config) as smtp:
        for msg in messages:
            smtp.send_message(msg)
    return len(messages)
