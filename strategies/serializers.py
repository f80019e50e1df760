"""JSON shapes of the strategy catalogue."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import Strategy, StrategyParameter
from .selectors import strategy_parameter_definitions


@extend_schema_field(OpenApiTypes.NUMBER)
class NumberField(serializers.Field):
    """A JSON number kept as it is: an int stays an int, a float a float."""

    def to_representation(self, value):
        return value


# anyOf, not oneOf: an integer is a JSON number too, so 14 would match two branches of a oneOf.
@extend_schema_field({"anyOf": [{"type": "integer"}, {"type": "number"}, {"type": "boolean"}, {"type": "string"}]})
class TypedDefaultField(NumberField):
    pass


class ParameterDefinitionSerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    type = serializers.ChoiceField(choices=StrategyParameter.Type.choices)
    default = TypedDefaultField(allow_null=True)
    min = NumberField(allow_null=True)
    max = NumberField(allow_null=True)
    options = serializers.ListField(child=serializers.CharField(), allow_null=True)
    order = serializers.IntegerField()
    is_active = serializers.BooleanField()


class StrategySerializer(serializers.ModelSerializer):
    parameters = serializers.SerializerMethodField()

    class Meta:
        model = Strategy
        fields = ["id", "key", "kind", "name", "description", "is_active", "entry_rule", "exit_rule", "parameters"]

    @extend_schema_field(ParameterDefinitionSerializer(many=True))
    def get_parameters(self, strategy):
        definitions = strategy_parameter_definitions(strategy=strategy, include_inactive=True)
        return ParameterDefinitionSerializer(definitions, many=True).data


class StrategyQuerySerializer(serializers.Serializer):
    """?all=1 (true, yes, on) includes inactive strategies and definitions; empty or absent means no."""

    all = serializers.BooleanField(required=False, allow_null=True)  # null: ?all= (empty)
