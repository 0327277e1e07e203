SELECT
  *
FROM (
  SELECT
    BilledCost AS "BilledCost",
    EffectiveCost AS "EffectiveCost",
    BillingAccountId AS "BillingAccountId",
    BillingCurrency AS "BillingCurrency",
    STRFTIME(BillingPeriodStart, '%Y-%m-%dT%H:%M:%SZ') AS "BillingPeriodStart",
    ChargeCategory AS "ChargeCategory",
    ChargeClass AS "ChargeClass",
    ChargeDescription AS "ChargeDescription",
    ChargeFrequency AS "ChargeFrequency",
    STRFTIME(ChargePeriodStart, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodStart",
    STRFTIME(ChargePeriodEnd, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodEnd",
    CommitmentDiscountId AS "CommitmentDiscountId",
    CommitmentDiscountStatus AS "CommitmentDiscountStatus",
    ConsumedQuantity AS "ConsumedQuantity",
    ConsumedUnit AS "ConsumedUnit",
    ProviderName AS "ProviderName",
    RegionId AS "RegionId",
    ServiceCategory AS "ServiceCategory",
    ServiceName AS "ServiceName",
    SkuId AS "SkuId",
    SkuPriceId AS "SkuPriceId",
    SubAccountId AS "SubAccountId",
    ServiceSubcategory AS "ServiceSubcategory",
    SkuMeter AS "SkuMeter",
    InvoiceId AS "InvoiceId",
    PricingCurrency AS "PricingCurrency"
  FROM billing.focus_export
  WHERE
    ChargePeriodStart >= CAST('2026-11-02 00:00:00' AS TIMESTAMP)
    AND ChargePeriodStart < CAST('2026-11-05 00:00:00' AS TIMESTAMP)
    AND BillingAccountId = '123456789012'
    AND billing_period IN ('2026-11')
) AS window_rows
