from django.urls import path

from dashboard.traces.consumers import TracesConsumer

websocket_urlpatterns = [path("ws/traces/", TracesConsumer.as_asgi())]
