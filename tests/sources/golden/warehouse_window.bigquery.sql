SELECT
  *
FROM (
  SELECT
    BilledCost AS `BilledCost`,
    EffectiveCost AS `EffectiveCost`,
    BillingAccountId AS `BillingAccountId`,
    BillingCurrency AS `BillingCurrency`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', BillingPeriodStart, 'UTC') AS `BillingPeriodStart`,
    ChargeCategory AS `ChargeCategory`,
    ChargeClass AS `ChargeClass`,
    ChargeDescription AS `ChargeDescription`,
    ChargeFrequency AS `ChargeFrequency`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', ChargePeriodStart, 'UTC') AS `ChargePeriodStart`,
    FORMAT_TIMESTAMP('%Y-%m-%dT%H:%M:%SZ', ChargePeriodEnd, 'UTC') AS `ChargePeriodEnd`,
    CommitmentDiscountId AS `CommitmentDiscountId`,
    CommitmentDiscountStatus AS `CommitmentDiscountStatus`,
    ConsumedQuantity AS `ConsumedQuantity`,
    ConsumedUnit AS `ConsumedUnit`,
    ProviderName AS `ProviderName`,
    RegionId AS `RegionId`,
    ServiceCategory AS `ServiceCategory`,
    ServiceName AS `ServiceName`,
    SkuId AS `SkuId`,
    SkuPriceId AS `SkuPriceId`,
    SubAccountId AS `SubAccountId`,
    ServiceSubcategory AS `ServiceSubcategory`,
    SkuMeter AS `SkuMeter`,
    InvoiceId AS `InvoiceId`,
    PricingCurrency AS `PricingCurrency`
  FROM `billing-proj`.billing.focus_export
  WHERE
    ChargePeriodStart >= TIMESTAMP('2026-11-02 00:00:00+00')
    AND ChargePeriodStart < TIMESTAMP('2026-11-05 00:00:00+00')
    AND BillingAccountId = '123456789012'
    AND billing_period IN ('2026-11')
) AS window_rows
