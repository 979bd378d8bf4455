"""The example's routes."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.index),
    path("api/profile", views.profile),
    path("api/orders", views.orders),
    path("api/drf/profile", views.DrfProfile.as_view()),
]
