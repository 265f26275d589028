from django.urls import path

from containers.api import views

urlpatterns = [
    path("containers/", views.ContainerList.as_view(), name="container-list"),
    path("containers/<str:ref>/", views.ContainerDetail.as_view(), name="container-detail"),
    path("containers/<str:ref>/start/", views.ContainerStart.as_view()),
    path("containers/<str:ref>/stop/", views.ContainerStop.as_view()),
    path("containers/<str:ref>/kill/", views.ContainerKill.as_view()),
    path("containers/<str:ref>/restart/", views.ContainerRestart.as_view()),
    path("containers/<str:ref>/wait/", views.ContainerWait.as_view()),
    path("containers/<str:ref>/logs/", views.ContainerLogs.as_view()),
    path("containers/<str:ref>/exec/", views.ContainerExec.as_view()),
    path("containers/<str:ref>/stats/", views.ContainerStats.as_view()),
    path("exec/<str:exec_id>/", views.ExecInspect.as_view()),
    path("exec/<str:exec_id>/start/", views.ExecStart.as_view()),
    path("exec/<str:exec_id>/resize/", views.ExecResize.as_view()),
    path("images/", views.ImageList.as_view(), name="image-list"),
    path("images/import/", views.ImageImport.as_view(), name="image-import"),
    path("images/prune/", views.ImagePrune.as_view(), name="image-prune"),
    path("images/<str:ref>/tag/", views.ImageTag.as_view()),
    path("images/<str:ref>/history/", views.ImageHistory.as_view()),
    path("containers/<str:ref>/changes/", views.ContainerChanges.as_view()),
    path("containers/<str:ref>/export/", views.ContainerExport.as_view()),
    path("containers/<str:ref>/commit/", views.ContainerCommit.as_view()),
    path("images/<str:ref>/", views.ImageDetail.as_view()),
    path("events/", views.EventList.as_view(), name="event-list"),
    path("info/", views.Info.as_view(), name="info"),
    path("networks/", views.NetworkList.as_view(), name="network-list"),
    path("networks/<str:name>/", views.NetworkDetail.as_view(), name="network-detail"),
]
