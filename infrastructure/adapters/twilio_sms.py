"""SMS through Twilio's REST API (Programmable Messaging):

    POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
    Authorization: Basic base64(AccountSid:AuthToken)
    To=+4915112345678&From=+15005550006&Body=...        (application/x-www-form-urlencoded)

201 with the message's ``sid`` means Twilio took it. 400 is Twilio refusing this message (a number
that cannot receive SMS, one that unsubscribed: ``code`` and ``message`` say which): permanent.
401/403/404 (credentials or account), 429 (too many requests), 5xx and no answer are tried again.
The base URL is a setting (``OMS_TWILIO_API_BASE``) so that tests can point it at a server of
their own.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from application.ports import DeliveryFailed

API_BASE = "https://api.twilio.com"


class TwilioSmsSender:
    def __init__(self, account_sid: str, auth_token: str, from_number: str, *, base_url: str = API_BASE,
                 timeout: float = 10.0) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self._path = f"/2010-04-01/Accounts/{account_sid}/Messages.json"
        self._client = httpx.Client(base_url=base_url.rstrip("/"), auth=(account_sid, auth_token), timeout=timeout)

    def send(self, to: str, body: str, *, handing_over: Callable[[], None]) -> str:
        handing_over()
        try:
            response = self._client.post(self._path, data={"To": to, "From": self.from_number, "Body": body})
        except httpx.HTTPError as error:
            raise DeliveryFailed(f"cannot reach Twilio: {type(error).__name__}: {error}", permanent=False) from None
        answer = _json(response)
        if response.status_code in (200, 201) and isinstance(answer.get("sid"), str):
            return answer["sid"]
        detail = " ".join(str(answer[k]) for k in ("code", "message") if answer.get(k) is not None) \
            or response.text[:200]
        raise DeliveryFailed(f"Twilio answered {response.status_code}: {detail}", permanent=response.status_code == 400)

    def close(self) -> None:
        self._client.close()


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}
