"""send_whatsapp: a WhatsApp message through Twilio (both numbers get the "whatsapp:" prefix)."""

from __future__ import annotations

from actions.steps.base import register
from workflows.steps._messaging import TwilioMessage


@register
class SendWhatsapp(TwilioMessage):
    type = "send_whatsapp"
    label = "Send WhatsApp"
    description = "Send a WhatsApp message through Twilio to a number or {{trigger.phone}}."
    whatsapp = True
