from django.urls import path

from dashboard.routes.consumers import RoutesConsumer

websocket_urlpatterns = [path("ws/routes/", RoutesConsumer.as_asgi())]
