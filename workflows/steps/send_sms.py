"""send_sms: a text message through Twilio."""

from __future__ import annotations

from actions.steps.base import register
from workflows.steps._messaging import TwilioMessage


@register
class SendSms(TwilioMessage):
    type = "send_sms"
    label = "Send SMS"
    description = "Send an SMS through Twilio to a number or {{trigger.phone}}."
    whatsapp = False
