from django.urls import path

from alarms.consumers import DashboardConsumer, YudaoDashboardConsumer

websocket_urlpatterns = [
    path("ws/alerts", DashboardConsumer.as_asgi()),
    path("infra/ws", YudaoDashboardConsumer.as_asgi()),
]
