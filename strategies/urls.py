from rest_framework.routers import SimpleRouter

from .api import StrategyViewSet

router = SimpleRouter()
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns = router.urls
