from rest_framework.routers import SimpleRouter

from .api import CryptocurrencyViewSet

router = SimpleRouter()
router.register("cryptocurrencies", CryptocurrencyViewSet, basename="cryptocurrency")

urlpatterns = router.urls
