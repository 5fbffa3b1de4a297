"""The HTTP layer: a thin FastAPI adapter over ``application.service.OrderService``.

Routes parse and validate input, build a command and its context, call the service and
shape the response. Business rules live in ``domain`` and ``application``, never here.
"""
