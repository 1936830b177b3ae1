from django.urls import path

from flows import api

urlpatterns = [
    path("organizations", api.OrganizationListApi.as_view(), name="organizations"),
    path("organizations/find", api.OrganizationFindApi.as_view(), name="organization_find"),
    path("organizations/<slug:org>", api.OrganizationDetailApi.as_view(), name="organization"),
    path("organizations/<slug:org>/users", api.OrganizationUserListApi.as_view(), name="organization_users"),
    path(
        "organizations/<slug:org>/users/<id:user_id>",
        api.OrganizationUserDetailApi.as_view(),
        name="organization_user",
    ),
    path("users", api.UserListApi.as_view(), name="users"),
    path("users/<id:user_id>", api.UserDetailApi.as_view(), name="user"),
    path("flows", api.FlowListApi.as_view(), name="flows"),
    path("flows/all", api.FlowAllApi.as_view(), name="flows_all"),
    path("flows/find", api.FlowFindApi.as_view(), name="flow_find"),
    path("flows/<slug:org>", api.FlowCreateApi.as_view(), name="flow_create"),
    path("flows/<slug:org>/<slug:flow>", api.FlowDetailApi.as_view(), name="flow"),
    path("flows/<slug:org>/<slug:flow>/users", api.FlowUserListApi.as_view(), name="flow_users"),
    path("flows/<slug:org>/<slug:flow>/users/<id:user_id>", api.FlowUserDetailApi.as_view(), name="flow_user"),
]
