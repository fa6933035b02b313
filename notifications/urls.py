from django.urls import path

from notifications import views

urlpatterns = [
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.mark_read, name="notifications_read"),
    path("notifications/channels/", views.channel_list, name="notification_channels"),
    path("notifications/channels/new/", views.channel_edit, name="notification_channel_new"),
    path("notifications/channels/<int:pk>/", views.channel_edit,
         name="notification_channel_edit"),
    path("notifications/channels/<int:pk>/delete/", views.channel_delete,
         name="notification_channel_delete"),
    path("notifications/channels/<int:pk>/test/", views.channel_test,
         name="notification_channel_test"),
    path("notifications/deliveries/<int:pk>/", views.delivery_result,
         name="notification_delivery"),
    path("notifications/rules/", views.rule_list, name="notification_rules"),
    path("notifications/rules/new/", views.rule_edit, name="notification_rule_new"),
    path("notifications/rules/<int:pk>/", views.rule_edit, name="notification_rule_edit"),
    path("notifications/rules/<int:pk>/delete/", views.rule_delete,
         name="notification_rule_delete"),
]
