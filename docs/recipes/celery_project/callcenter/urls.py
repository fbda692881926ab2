from calls import views
from django.urls import path

urlpatterns = [
    path("sayna/incoming-call/", views.incoming_call),
    path("calls/<str:room>/", views.call_transcript),
]
