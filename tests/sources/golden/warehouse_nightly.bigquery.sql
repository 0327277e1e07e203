WITH src AS (
  SELECT
    ROW_NUMBER() OVER (ORDER BY `ChargePeriodStart` NULLS LAST, `BilledCost` NULLS LAST) AS row_no,
    COALESCE(CAST(`BilledCost` AS STRING), '') AS s0,
    COALESCE(CAST(`EffectiveCost` AS STRING), '') AS s1,
    COALESCE(CAST(`BillingAccountId` AS STRING), '') AS s2,
    COALESCE(CAST(`BillingCurrency` AS STRING), '') AS s3,
    COALESCE(CAST(`BillingPeriodStart` AS STRING), '') AS s4,
    COALESCE(CAST(`ChargeCategory` AS STRING), '') AS s5,
    COALESCE(CAST(`ChargeClass` AS STRING), '') AS s6,
    COALESCE(CAST(`ChargeDescription` AS STRING), '') AS s7,
    COALESCE(CAST(`ChargeFrequency` AS STRING), '') AS s8,
    COALESCE(CAST(`ChargePeriodStart` AS STRING), '') AS s9,
    COALESCE(CAST(`ChargePeriodEnd` AS STRING), '') AS s10,
    COALESCE(CAST(`CommitmentDiscountId` AS STRING), '') AS s11,
    COALESCE(CAST(`CommitmentDiscountStatus` AS STRING), '') AS s12,
    COALESCE(CAST(`ConsumedQuantity` AS STRING), '') AS s13,
    COALESCE(CAST(`ConsumedUnit` AS STRING), '') AS s14,
    COALESCE(CAST(`ProviderName` AS STRING), '') AS s15,
    COALESCE(CAST(`RegionId` AS STRING), '') AS s16,
    COALESCE(CAST(`ServiceCategory` AS STRING), '') AS s17,
    COALESCE(CAST(`ServiceName` AS STRING), '') AS s18,
    COALESCE(CAST(`SkuId` AS STRING), '') AS s19,
    COALESCE(CAST(`SkuPriceId` AS STRING), '') AS s20,
    COALESCE(CAST(`SubAccountId` AS STRING), '') AS s21,
    COALESCE(CAST(`ServiceSubcategory` AS STRING), '') AS s22,
    COALESCE(CAST(`InvoiceId` AS STRING), '') AS s23,
    COALESCE(CAST(`PricingCurrency` AS STRING), '') AS s24,
    COALESCE(CAST(`SkuMeter` AS STRING), '') AS s25
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
      InvoiceId AS `InvoiceId`,
      PricingCurrency AS `PricingCurrency`,
      SkuMeter AS `SkuMeter`
    FROM `billing-proj`.billing.focus_export
    WHERE
      ChargePeriodStart >= TIMESTAMP('2026-11-02 00:00:00+00')
      AND ChargePeriodStart < TIMESTAMP('2026-11-05 00:00:00+00')
      AND BillingAccountId = '123456789012'
      AND billing_period IN ('2026-11')
  ) AS window_rows
), `rows` AS (
  SELECT
    src.*,
    CASE
      WHEN (
        s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
      ) OR s1 = s0
      THEN s0
      ELSE s1
    END AS effective_text,
    (
      s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
    ) AS effective_missing,
    (
      NOT s13 IN ('', 'null', 'NULL', 'Null')
    ) AS has_quantity,
    s13 AS quantity_text,
    FALSE AS odd_id,
    '' AS line_id,
    TO_HEX(
      MD5(
        CONCAT_WS(CHR(  31), s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17, s18, s19, s20, s21, s22, s23, s24, s25)
      )
    ) AS fingerprint,
    (
      s5 IN ('Usage', 'Credit', 'Tax', 'Adjustment')
      AND REGEXP_CONTAINS(s9, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$')
      AND REGEXP_CONTAINS(s10, '^[0-9]{4}-[0-9]{2}-[0-9]{2}T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$')
      AND SUBSTRING(s9, 1, 10) = SUBSTRING(s10, 1, 10)
      AND s10 > s9
    ) AS within_day
  FROM src
), repeated_rows AS (
  SELECT
    fingerprint
  FROM `rows`
  GROUP BY
    fingerprint
  HAVING
    COUNT(*) > 1
), checked AS (
  SELECT
    `rows`.*,
    s17 AS g0,
    s5 AS g1,
    s3 AS g2,
    s2 AS g3,
    s15 AS g4,
    s6 AS g5,
    s4 AS g6,
    s23 AS g7,
    s11 AS g8,
    s8 AS g9,
    s20 AS g10,
    s24 AS g11,
    s21 AS g12,
    s18 AS g13,
    s22 AS g14,
    s25 AS g15,
    s19 AS g16,
    s16 AS g17,
    s7 AS g18,
    s14 AS g19,
    s11 AS g20,
    s12 AS g21,
    CASE WHEN within_day THEN SUBSTRING(s9, 1, 10) ELSE '' END AS p_day,
    CASE WHEN within_day THEN '' ELSE s9 END AS p_start,
    CASE WHEN within_day THEN '' ELSE s10 END AS p_end,
    (
      REGEXP_CONTAINS(s0, '^-?[0-9]{1,18}(\\.[0-9]{1,10})?$')
      AND NOT REGEXP_CONTAINS(s0, '^-[0.]*$')
    )
    AND (
      (
        s1 IN ('', 'null', 'NULL', 'Null') AND s1 <> s0
      )
      OR (
        REGEXP_CONTAINS(effective_text, '^-?[0-9]{1,18}(\\.[0-9]{1,10})?$')
        AND NOT REGEXP_CONTAINS(effective_text, '^-[0.]*$')
      )
    )
    AND (
      NOT has_quantity
      OR (
        REGEXP_CONTAINS(quantity_text, '^-?[0-9]{1,18}(\\.[0-9]{1,10})?$')
        AND NOT REGEXP_CONTAINS(quantity_text, '^-[0.]*$')
      )
    )
    AND NOT (
      (
        line_id = '' AND fingerprint IN (
          SELECT
            fingerprint
          FROM repeated_rows
        )
      )
    ) AS clean
  FROM `rows`
)
SELECT
  g0,
  g1,
  g2,
  g3,
  g4,
  g5,
  g6,
  g7,
  g8,
  g9,
  g10,
  g11,
  g12,
  g13,
  g14,
  g15,
  g16,
  g17,
  g18,
  g19,
  g20,
  g21,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean,
  SUM(CASE WHEN clean THEN CAST(s0 AS BIGNUMERIC) END) AS billed,
  SUM(CASE WHEN clean AND s0 LIKE '-%' THEN CAST(s0 AS BIGNUMERIC) END) AS billed_negative,
  SUM(CASE WHEN clean THEN CAST(effective_text AS BIGNUMERIC) END) AS effective,
  SUM(CASE WHEN clean AND has_quantity THEN CAST(quantity_text AS BIGNUMERIC) END) AS quantity,
  COUNT(CASE WHEN has_quantity THEN 1 END) AS quantity_rows,
  COUNT(*) AS row_count,
  MAX(CASE WHEN INSTR(s0, '.') > 0 THEN LENGTH(s0) - INSTR(s0, '.') ELSE 0 END) AS billed_scale,
  MAX(
    CASE
      WHEN s0 LIKE '-%'
      THEN CASE WHEN INSTR(s0, '.') > 0 THEN LENGTH(s0) - INSTR(s0, '.') ELSE 0 END
    END
  ) AS negative_scale,
  MAX(
    CASE
      WHEN INSTR(effective_text, '.') > 0
      THEN LENGTH(effective_text) - INSTR(effective_text, '.')
      ELSE 0
    END
  ) AS effective_scale,
  MAX(
    CASE
      WHEN has_quantity
      THEN CASE
        WHEN INSTR(quantity_text, '.') > 0
        THEN LENGTH(quantity_text) - INSTR(quantity_text, '.')
        ELSE 0
      END
    END
  ) AS quantity_scale,
  MIN(row_no) AS first_row,
  MAX(CASE WHEN odd_id THEN 1 ELSE 0 END) AS odd_ids
FROM checked
GROUP BY
  g0,
  g1,
  g2,
  g3,
  g4,
  g5,
  g6,
  g7,
  g8,
  g9,
  g10,
  g11,
  g12,
  g13,
  g14,
  g15,
  g16,
  g17,
  g18,
  g19,
  g20,
  g21,
  p_day,
  p_start,
  p_end,
  effective_missing,
  clean
ORDER BY
  first_row NULLS LAST
