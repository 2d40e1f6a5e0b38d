from rest_framework import serializers

from apps.accounts.models import User
from apps.accounts.roles import CAPABILITIES, has_capability


class RegisterInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})


class RegisteredUserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email"]


class LoginInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, trim_whitespace=False)
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class RefreshInputSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class MeSerializer(serializers.ModelSerializer):
    roles = serializers.ListField(child=serializers.CharField(), read_only=True)
    capabilities = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "username", "email", "roles", "is_staff", "is_superuser", "capabilities"]

    def get_capabilities(self, user) -> list[str]:
        return sorted(name for name in CAPABILITIES if has_capability(user, name))


class UserSerializer(serializers.ModelSerializer):
    roles = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "email",
            "roles",
            "is_active",
            "is_staff",
            "is_superuser",
            "date_joined",
            "last_login",
        ]

    def get_roles(self, user) -> list[str]:
        return sorted(group.name for group in user.groups.all())


class UserCreateInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    email = serializers.EmailField()
    password = serializers.CharField(write_only=True, trim_whitespace=False, style={"input_type": "password"})
    roles = serializers.ListField(child=serializers.CharField(max_length=64), required=False)


class RolesInputSerializer(serializers.Serializer):
    roles = serializers.ListField(child=serializers.CharField(max_length=64), allow_empty=True)
